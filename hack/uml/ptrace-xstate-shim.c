/*
 * LD_PRELOAD shim for User-mode Linux on hosts whose CPUs have a large
 * XSAVE area (AMX): UML hands ptrace(PTRACE_SETREGSET, NT_X86_XSTATE) a
 * buffer sized for its own idea of the FPU state, the host kernel wants
 * the size the CPU reports, and the call fails with EFAULT ("ptrace set fp
 * regs failed, errno = 14" and a panic). This pads such a buffer with
 * zeros to the size CPUID leaf 0xD sub-leaf 0 reports in EBX (the zeroed
 * tail belongs to components the XSAVE header marks as not in use).
 *
 * Built at run time by hack/lib/uml-vm.sh into the cluster's scratch dir.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NT_X86_XSTATE_NOTE 0x202

static size_t xsave_size(void)
{
    static size_t size;
    unsigned int eax, ebx, ecx, edx;
    if (size == 0 && __get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx))
        size = ebx;
    return size;
}

long ptrace(enum __ptrace_request request, ...)
{
    static long (*real)(enum __ptrace_request, pid_t, void *, void *);
    va_list ap;
    va_start(ap, request);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if (real == NULL)
        real = (long (*)(enum __ptrace_request, pid_t, void *, void *))dlsym(RTLD_NEXT, "ptrace");

    if (request == PTRACE_SETREGSET && (unsigned long)addr == NT_X86_XSTATE_NOTE && data != NULL) {
        struct iovec *iov = data;
        size_t want = xsave_size();
        if (want > iov->iov_len) {
            void *buf = calloc(1, want);
            if (buf == NULL)
                return real(request, pid, addr, data);
            memcpy(buf, iov->iov_base, iov->iov_len);
            struct iovec padded = { .iov_base = buf, .iov_len = want };
            long ret = real(request, pid, addr, &padded);
            free(buf);
            return ret;
        }
    }
    return real(request, pid, addr, data);
}
