//! The command line, with upstream kubectl's command and flag names.
//!
//! Only parsing lives here; each command's behaviour is in the module named
//! after it. Global flags are accepted before or after the command, as
//! upstream accepts them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::kubeconfig::Flags;

/// `kubectl`.
#[derive(Debug, Parser)]
#[command(name = "kubectl", about = "kubectl controls the Kubernetes cluster manager.", version = crate::version::CLIENT_VERSION, disable_version_flag = true)]
pub struct Cli {
    /// Connection flags.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Path to the kubeconfig file to use for CLI requests.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The name of the kubeconfig cluster to use.
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// The name of the kubeconfig user to use.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// If present, the namespace scope for this CLI request.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[arg(short = 's', long, global = true)]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server.
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// If true, the server's certificate will not be checked for validity.
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// Username to impersonate for the operation.
    #[arg(long = "as", global = true)]
    pub as_user: Option<String>,
    /// Group to impersonate for the operation.
    #[arg(long = "as-group", global = true)]
    pub as_group: Vec<String>,
    /// Log level (accepted for compatibility).
    #[arg(short = 'v', long = "v", global = true)]
    pub verbosity: Option<u32>,
    /// Default cache directory (discovery is cached under `<dir>/discovery`).
    #[arg(long, global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Request timeout (accepted for compatibility).
    #[arg(long, global = true)]
    pub request_timeout: Option<String>,
}

impl Global {
    /// The connection part of the flags.
    pub fn flags(&self) -> Flags {
        Flags {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
            namespace: self.namespace.clone(),
            server: self.server.clone(),
            token: self.token.clone(),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            as_user: self.as_user.clone(),
            as_group: self.as_group.clone(),
            cache_dir: self.cache_dir.clone(),
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Modify kubeconfig files.
    Config {
        /// The config subcommand.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Display one or many resources.
    Get(GetArgs),
    /// Apply a configuration to a resource by file name or stdin.
    Apply(ApplyArgs),
    /// Create a resource from a file or from stdin.
    Create(CreateArgs),
    /// Replace a resource by file name or stdin.
    Replace(FileArgs),
    /// Delete resources by file names, stdin, resources and names, or by resources and label selector.
    Delete(DeleteArgs),
    /// Update fields of a resource.
    Patch(PatchArgs),
    /// Update the labels on a resource.
    Label(MetaArgs),
    /// Update the annotations on a resource.
    Annotate(MetaArgs),
    /// Set a new size for a deployment, replica set, replication controller, or stateful set.
    Scale(ScaleArgs),
    /// Print the logs for a container in a pod.
    Logs(LogsArgs),
    /// Show details of a specific resource or group of resources.
    Describe(DescribeArgs),
    /// Execute a command in a container.
    Exec(ExecArgs),
    /// Manage the rollout of a resource.
    Rollout {
        /// The rollout subcommand.
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Set specific features on objects.
    Set {
        /// The set subcommand.
        #[command(subcommand)]
        command: SetCommand,
    },
    /// Mark node as unschedulable.
    Cordon(NodeArgs),
    /// Mark node as schedulable.
    Uncordon(NodeArgs),
    /// Drain node in preparation for maintenance.
    Drain(DrainArgs),
    /// Edit a resource on the server.
    Edit {
        /// TYPE NAME or TYPE/NAME.
        args: Vec<String>,
    },
    /// Experimental: Wait for a specific condition on one or many resources.
    Wait(WaitArgs),
    /// Run a particular image on the cluster.
    Run(RunArgs),
    /// Take a replication controller, service, deployment or pod and expose it as a new Kubernetes service.
    Expose(ExposeArgs),
    /// Print the supported API resources on the server.
    ApiResources(ApiResourcesArgs),
    /// Print the supported API versions on the server, in the form of "group/version".
    ApiVersions,
    /// Modify certificate resources.
    Certificate {
        /// approve or deny.
        #[command(subcommand)]
        command: CertificateCommand,
    },
    /// Inspect authorization.
    Auth {
        /// The auth subcommand.
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Print the client and server version information.
    Version(VersionArgs),
    /// Display cluster information.
    ClusterInfo,
    /// Copy files and directories to and from containers.
    Cp(CpArgs),
    /// Forward one or more local ports to a pod.
    PortForward(PortForwardArgs),
    /// Diff the live version against a would-be applied version.
    Diff(ApplyArgs),
    /// List events.
    Events(EventsArgs),
    /// Get documentation for a resource.
    Explain(ExplainArgs),
    /// Display resource (CPU/memory) usage.
    Top {
        /// What to show the usage of.
        #[command(subcommand)]
        command: TopCommand,
    },
    /// Show how a pod's start went on its node, step by step (ours, not upstream's).
    Trace(TraceArgs),
    /// Show an object and everything it owns, as a tree (ours, not upstream's).
    Tree(TreeArgs),
    /// Show an object's etcd key and the writes etcd still keeps (ours, not upstream's).
    EtcdPath(EtcdPathArgs),
}

/// `kubectl config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Display merged kubeconfig settings or a specified kubeconfig file.
    View {
        /// Remove all information not used by current-context from the output.
        #[arg(long)]
        minify: bool,
        /// Display raw byte data and sensitive data.
        #[arg(long)]
        raw: bool,
        /// Output format.
        #[arg(short = 'o', long)]
        output: Option<String>,
    },
    /// Describe one or many contexts.
    GetContexts {
        /// Context names.
        names: Vec<String>,
        /// Output format (name).
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// When using the default or custom-column output format, don't print headers.
        #[arg(long)]
        no_headers: bool,
    },
    /// Display the current-context.
    CurrentContext,
    /// Set the current-context in a kubeconfig file.
    UseContext {
        /// The context.
        name: String,
    },
    /// Set a context entry in kubeconfig.
    SetContext {
        /// The context (or `--current`).
        name: Option<String>,
        /// Modify the current context. `--namespace`, `--cluster` and
        /// `--user` (the global flags) give the new values.
        #[arg(long)]
        current: bool,
    },
}

/// `kubectl get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// TYPE[.VERSION][.GROUP] [NAME...] or TYPE/NAME...
    pub args: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// After listing/getting the requested object, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Watch for changes without listing first.
    #[arg(long)]
    pub watch_only: bool,
    /// Show all labels as the last column.
    #[arg(long)]
    pub show_labels: bool,
    /// Sort list types using this JSONPath expression.
    #[arg(long)]
    pub sort_by: Option<String>,
    /// Don't print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Label keys shown as columns.
    #[arg(short = 'L', long = "label-columns")]
    pub label_columns: Vec<String>,
    /// Print the kind with the name.
    #[arg(long)]
    pub show_kind: bool,
    /// Treat "resource not found" as a successful retrieval.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Keep managedFields when printing objects as JSON or YAML.
    #[arg(long)]
    pub show_managed_fields: bool,
    /// Chunk size (accepted for compatibility).
    #[arg(long)]
    pub chunk_size: Option<u64>,
    /// Files naming the objects to get.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Process the directory used in -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// Files given with `-f`.
#[derive(Debug, Args, Clone, Default)]
pub struct FileArgs {
    /// Files, directories or `-`.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Process the directory used in -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Output format (name, yaml, json).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// none, client or server.
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
    /// Field manager name.
    #[arg(long, default_value = "kubectl-client-side-apply")]
    pub field_manager: String,
    /// Validation (strict, warn, ignore).
    #[arg(long, num_args = 0..=1, default_missing_value = "strict")]
    pub validate: Option<String>,
}

/// `kubectl apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Files.
    #[command(flatten)]
    pub files: FileArgs,
    /// Apply on the server (server-side apply).
    #[arg(long)]
    pub server_side: bool,
    /// Take ownership of conflicting fields.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Selector (label query) to filter on (with --prune).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete objects not in the manifests (with -l or --all).
    #[arg(long)]
    pub prune: bool,
    /// With --prune: the kinds to prune (group/version/kind, `core` for
    /// the core group) instead of upstream's default list.
    #[arg(long = "prune-allowlist")]
    pub prune_allowlist: Vec<String>,
    /// With --prune: every object of the allowlisted kinds, not only those
    /// matching -l.
    #[arg(long)]
    pub all: bool,
}

/// `kubectl create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Files.
    #[command(flatten)]
    pub files: FileArgs,
    /// What to create without a file.
    #[command(subcommand)]
    pub what: Option<CreateWhat>,
}

/// `kubectl create <kind>`.
#[derive(Debug, Subcommand)]
pub enum CreateWhat {
    /// Create a namespace with the specified name.
    Namespace {
        /// Name.
        name: String,
        /// Output.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// Dry run.
        #[arg(long, num_args = 0..=1, default_missing_value = "client")]
        dry_run: Option<String>,
    },
    /// Create a deployment with the specified name.
    Deployment {
        /// Name.
        name: String,
        /// Image names to run.
        #[arg(long, required = true)]
        image: Vec<String>,
        /// Number of replicas.
        #[arg(long, default_value_t = 1)]
        replicas: i64,
        /// The container port to expose.
        #[arg(long)]
        port: Option<i64>,
        /// Output.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// Dry run.
        #[arg(long, num_args = 0..=1, default_missing_value = "client")]
        dry_run: Option<String>,
    },
    /// Create a job with the specified name.
    Job {
        /// Name.
        name: String,
        /// Image name to run.
        #[arg(long)]
        image: Option<String>,
        /// The name of the resource to create a Job from (only cronjob is supported).
        #[arg(long)]
        from: Option<String>,
        /// Output.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// Dry run.
        #[arg(long, num_args = 0..=1, default_missing_value = "client")]
        dry_run: Option<String>,
        /// The command to run (after `--`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Create a config map from a local file, directory or literal value.
    Configmap {
        /// Name.
        name: String,
        /// key=value pairs.
        #[arg(long)]
        from_literal: Vec<String>,
        /// Files (key=path or path).
        #[arg(long)]
        from_file: Vec<String>,
        /// Output.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// Dry run.
        #[arg(long, num_args = 0..=1, default_missing_value = "client")]
        dry_run: Option<String>,
    },
    /// Create a secret using a specified subcommand.
    Secret {
        /// The secret type.
        #[command(subcommand)]
        kind: SecretKind,
    },
}

/// `kubectl create secret <type>`.
#[derive(Debug, Subcommand)]
pub enum SecretKind {
    /// Create a secret from a local file, directory, or literal value.
    Generic {
        /// Name.
        name: String,
        /// key=value pairs.
        #[arg(long)]
        from_literal: Vec<String>,
        /// Files (key=path or path).
        #[arg(long)]
        from_file: Vec<String>,
        /// The type of secret to create.
        #[arg(long = "type")]
        secret_type: Option<String>,
        /// Output.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// Dry run.
        #[arg(long, num_args = 0..=1, default_missing_value = "client")]
        dry_run: Option<String>,
    },
}

/// `kubectl delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// TYPE NAME... or TYPE/NAME...
    pub args: Vec<String>,
    /// Files.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Process -f directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Delete all resources of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Seconds given to the resource to terminate gracefully (-1: its default).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub grace_period: i64,
    /// Immediately remove resources (grace period 0 with --force).
    #[arg(long)]
    pub force: bool,
    /// Wait for resources to be gone before returning.
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true")]
    pub wait: String,
    /// background, foreground or orphan.
    #[arg(long, num_args = 0..=1, default_missing_value = "background")]
    pub cascade: Option<String>,
    /// Treat "resource not found" as a successful delete.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Output (name).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Dry run.
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
    /// How long to wait for deletion.
    #[arg(long)]
    pub timeout: Option<String>,
}

/// `kubectl patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    /// TYPE NAME or TYPE/NAME.
    pub args: Vec<String>,
    /// The patch.
    #[arg(short = 'p', long)]
    pub patch: Option<String>,
    /// A file holding the patch.
    #[arg(long)]
    pub patch_file: Option<PathBuf>,
    /// json, merge or strategic.
    #[arg(long = "type", default_value = "strategic")]
    pub patch_type: String,
    /// Patch a subresource (status, scale).
    #[arg(long)]
    pub subresource: Option<String>,
    /// Output.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Dry run.
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
}

/// `kubectl label` / `kubectl annotate`.
#[derive(Debug, Args)]
pub struct MetaArgs {
    /// TYPE NAME KEY=VAL... KEY-...
    pub args: Vec<String>,
    /// Overwrite existing values.
    #[arg(long)]
    pub overwrite: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Every resource of the type.
    #[arg(long)]
    pub all: bool,
    /// Output.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Dry run.
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
}

/// `kubectl scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// TYPE NAME or TYPE/NAME.
    pub args: Vec<String>,
    /// The new number of replicas.
    #[arg(long)]
    pub replicas: i64,
    /// Precondition on the current size.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub current_replicas: i64,
}

/// `kubectl logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// POD or TYPE/NAME.
    pub target: String,
    /// Container name (as an argument).
    pub container_arg: Option<String>,
    /// Container name.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Stream the logs.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Print the logs of the previous instance.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Lines of recent log to display.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub tail: i64,
    /// Only logs newer than a relative duration like 5s, 2m, or 3h.
    #[arg(long)]
    pub since: Option<String>,
    /// Include timestamps.
    #[arg(long)]
    pub timestamps: bool,
}

/// `kubectl api-resources`.
#[derive(Debug, Args)]
pub struct ApiResourcesArgs {
    /// Output (wide, name).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Namespaced resources only (true) or cluster-scoped only (false).
    #[arg(long)]
    pub namespaced: Option<bool>,
    /// Only this API group.
    #[arg(long)]
    pub api_group: Option<String>,
    /// Only resources supporting these verbs.
    #[arg(long)]
    pub verbs: Vec<String>,
    /// Don't print headers.
    #[arg(long)]
    pub no_headers: bool,
}

/// `kubectl auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Check whether an action is allowed.
    #[command(name = "can-i")]
    CanI(CanIArgs),
    /// Experimental: Check self subject attributes.
    Whoami {
        /// Output (yaml, json).
        #[arg(short = 'o', long)]
        output: Option<String>,
    },
}

/// `kubectl auth can-i VERB [TYPE | TYPE/NAME | NONRESOURCEURL]` or
/// `kubectl auth can-i --list`.
#[derive(Debug, Args)]
pub struct CanIArgs {
    /// VERB and TYPE, TYPE/NAME or a non-resource URL (`/logs`); none with
    /// --list. Counted by the command, as upstream counts them, so a wrong
    /// count gets upstream's message.
    pub args: Vec<String>,
    /// Check across all namespaces.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
    /// A subresource, e.g. pod/log.
    #[arg(long)]
    pub subresource: Option<String>,
    /// Print nothing; the exit code says yes (0) or no (1).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print every allowed action (a SelfSubjectRulesReview).
    #[arg(long)]
    pub list: bool,
    /// With --list: no header line.
    #[arg(long)]
    pub no_headers: bool,
}

/// `kubectl version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Client version only.
    #[arg(long)]
    pub client: bool,
    /// Output (yaml, json).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// `kubectl describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// TYPE [NAME_PREFIX] or TYPE/NAME.
    pub args: Vec<String>,
    /// Selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Show events.
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true")]
    pub show_events: String,
}

/// `kubectl exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// POD or TYPE/NAME.
    pub target: String,
    /// Container name.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Stdin is a TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The command (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `kubectl rollout ...`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Show the status of the rollout.
    Status {
        /// TYPE NAME or TYPE/NAME.
        args: Vec<String>,
        /// Watch the status until it's done.
        #[arg(short = 'w', long, default_value = "true", num_args = 0..=1, default_missing_value = "true")]
        watch: String,
        /// Give up after this long (e.g. 60s).
        #[arg(long)]
        timeout: Option<String>,
    },
    /// View rollout history.
    History {
        /// TYPE NAME or TYPE/NAME.
        args: Vec<String>,
        /// Details of one revision.
        #[arg(long)]
        revision: Option<i64>,
    },
    /// Undo a previous rollout.
    Undo {
        /// TYPE NAME or TYPE/NAME.
        args: Vec<String>,
        /// The revision to roll back to (0: the previous one).
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
    },
    /// Restart a resource.
    Restart {
        /// TYPE NAME or TYPE/NAME.
        args: Vec<String>,
    },
    /// Mark the provided resource as paused.
    Pause {
        /// TYPE NAME or TYPE/NAME.
        args: Vec<String>,
    },
    /// Resume a paused resource.
    Resume {
        /// TYPE NAME or TYPE/NAME.
        args: Vec<String>,
    },
}

/// `kubectl set ...`.
#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Update the image of a pod template.
    Image {
        /// TYPE NAME or TYPE/NAME, then CONTAINER=IMAGE...
        args: Vec<String>,
    },
}

/// `kubectl certificate approve|deny`.
#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// Approve a certificate signing request.
    Approve(CertificateArgs),
    /// Deny a certificate signing request.
    Deny(CertificateArgs),
}

/// The CSRs and `--force`.
#[derive(Debug, Args)]
pub struct CertificateArgs {
    /// CertificateSigningRequest names.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Update the CSR even if it is already approved (or denied).
    #[arg(long)]
    pub force: bool,
}

/// `kubectl cordon|uncordon NODE`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node name.
    pub node: String,
}

/// `kubectl drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Node name.
    pub node: String,
    /// Ignore DaemonSet-managed pods.
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Continue even if there are pods using emptyDir.
    #[arg(long)]
    pub delete_emptydir_data: bool,
    /// Continue even if there are pods not managed by a controller.
    #[arg(long)]
    pub force: bool,
    /// Grace period for evicted pods (-1: their own).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub grace_period: i64,
    /// Give up after this long.
    #[arg(long)]
    pub timeout: Option<String>,
}

/// `kubectl wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// TYPE NAME or TYPE/NAME...
    pub args: Vec<String>,
    /// condition=NAME[=VALUE], delete, or jsonpath=...
    #[arg(long = "for")]
    pub for_: String,
    /// How long to wait (e.g. 30s).
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Every resource of the type.
    #[arg(long)]
    pub all: bool,
}

/// `kubectl run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pod name.
    pub name: String,
    /// Image.
    #[arg(long)]
    pub image: String,
    /// Labels (k=v,...).
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// Port the container exposes.
    #[arg(long)]
    pub port: Option<i64>,
    /// Environment (k=v).
    #[arg(long)]
    pub env: Vec<String>,
    /// Restart policy.
    #[arg(long, default_value = "Always")]
    pub restart: String,
    /// Treat the arguments as the command.
    #[arg(long)]
    pub command: bool,
    /// Output.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Dry run.
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
    /// Arguments (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `kubectl trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// POD, pod/POD, or node NAME.
    #[arg(required = true, num_args = 1..=2)]
    pub args: Vec<String>,
    /// Output format: json.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// `kubectl port-forward`.
#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// TYPE/NAME (or a pod's NAME), then [LOCAL_PORT:]REMOTE_PORT ...
    pub args: Vec<String>,
    /// Addresses to listen on (comma separated): IP addresses or localhost.
    #[arg(long, default_value = "localhost")]
    pub address: String,
}

/// `kubectl cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// SRC DEST: a local path and `[[namespace/]pod:]path`, either way round.
    pub args: Vec<String>,
    /// Container name. If omitted, the first container in the pod is chosen.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
}

/// `kubectl explain TYPE[.FIELD...]`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The resource and field path (counted by the command, which gives
    /// upstream's messages for none or several).
    pub args: Vec<String>,
    /// Print the fields of fields (`--recursive`, `--recursive=true|false`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", action = clap::ArgAction::Set)]
    pub recursive: bool,
    /// Explain the resource in this API group/version.
    #[arg(long = "api-version")]
    pub api_version: Option<String>,
    /// Format (plaintext).
    #[arg(short = 'o', long, default_value = "plaintext")]
    pub output: String,
}

/// `kubectl events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter events to only those pertaining to the specified resource.
    #[arg(long = "for")]
    pub for_object: Option<String>,
    /// Output only events of given types.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// After listing the requested events, watch for more events.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// When using the default output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Output format: json or yaml (the default is the events table).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// `kubectl top ...`.
#[derive(Debug, Subcommand)]
pub enum TopCommand {
    /// Display resource (CPU/memory) usage of nodes.
    #[command(visible_alias = "nodes", visible_alias = "no")]
    Node(TopNodeArgs),
    /// Display resource (CPU/memory) usage of pods.
    #[command(visible_alias = "pods", visible_alias = "po")]
    Pod(TopPodArgs),
}

/// `kubectl top node`.
#[derive(Debug, Args)]
pub struct TopNodeArgs {
    /// One node's name.
    pub name: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// If present, print output without headers.
    #[arg(long)]
    pub no_headers: bool,
    /// If non-empty, sort nodes list using specified field: cpu or memory.
    #[arg(long)]
    pub sort_by: Option<String>,
    /// Print node resources based on Capacity instead of Allocatable(default) of the nodes.
    #[arg(long)]
    pub show_capacity: bool,
}

/// `kubectl top pod`.
#[derive(Debug, Args)]
pub struct TopPodArgs {
    /// One pod's name.
    pub name: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// If present, print usage of containers within a pod.
    #[arg(long)]
    pub containers: bool,
    /// If present, print output without headers.
    #[arg(long)]
    pub no_headers: bool,
    /// If non-empty, sort pods list using specified field: cpu or memory.
    #[arg(long)]
    pub sort_by: Option<String>,
    /// Print the sum of the resource usage.
    #[arg(long)]
    pub sum: bool,
}

/// `kubectl tree`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// KIND NAME or KIND/NAME.
    #[arg(required = true, num_args = 1..=2)]
    pub args: Vec<String>,
}

/// `kubectl etcd-path`.
#[derive(Debug, Args)]
pub struct EtcdPathArgs {
    /// KIND NAME or KIND/NAME.
    #[arg(required = true, num_args = 1..=2)]
    pub args: Vec<String>,
}

/// `kubectl expose`.
#[derive(Debug, Args)]
pub struct ExposeArgs {
    /// TYPE NAME or TYPE/NAME.
    pub args: Vec<String>,
    /// The port the service serves on.
    #[arg(long)]
    pub port: Option<i64>,
    /// The port on the pods.
    #[arg(long)]
    pub target_port: Option<String>,
    /// Service name (default: the object's).
    #[arg(long)]
    pub name: Option<String>,
    /// ClusterIP, NodePort, LoadBalancer.
    #[arg(long = "type")]
    pub service_type: Option<String>,
    /// TCP or UDP.
    #[arg(long, default_value = "TCP")]
    pub protocol: String,
    /// Output.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Dry run.
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
}
