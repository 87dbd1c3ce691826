//! The field numbering of the Kubernetes protobuf messages this cluster
//! decodes: for each message, its fields as (number, JSON name, type).
//!
//! These are the wire facts of the Kubernetes API's protobuf encoding (the
//! field numbers are fixed forever, so a decoder must know them); the table
//! covers every message reachable from the original kinds the apiserver
//! serves (core, apps, batch, coordination, discovery, scheduling), the
//! envelope (`runtime.Unknown`), `DeleteOptions`, `Binding`, `Eviction` and
//! `Scale`, and the reviews and CSRs kubectl sends as protobuf (`kubectl auth
//! can-i`, `auth whoami`, `certificate approve`). The other kinds of the
//! v1.36 API (storage, RBAC, ...) are not in it yet: clients send those as
//! JSON (kubectl's generic commands do) or get a 400 asking for JSON.
//! Messages are named `<group>.<version>.<Kind>` (`core.v1.Pod`,
//! `meta.v1.ObjectMeta`); the table is sorted by name.

/// A field's type, as the decoder turns it into JSON.
#[derive(Debug)]
pub enum T {
    /// A string.
    Str,
    /// An integer (int32/int64, varint encoded).
    Int,
    /// A boolean.
    Bool,
    /// Bytes, written in JSON as base64 (Secret data).
    Bytes,
    /// A floating point number.
    Float,
    /// `meta.v1.Time`: RFC 3339 in whole seconds (`2024-01-02T03:04:05Z`).
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with microseconds
    /// (`2024-01-02T03:04:05.123456Z`).
    MicroTime,
    /// `resource.Quantity`: its string form.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: embedded JSON.
    Raw,
    /// `meta.v1.Duration`: a Go duration string.
    Duration,
    /// `meta.v1.FieldsV1`: embedded JSON.
    FieldsV1,
    /// Another message.
    Msg(&'static str),
    /// A message embedded in Go with `json:",inline"`: its fields belong to
    /// the enclosing JSON object (`EphemeralContainer` embeds
    /// `EphemeralContainerCommon`).
    Inline(&'static str),
    /// A repeated field.
    List(&'static T),
    /// A map from string keys.
    Map(&'static T),
}

/// One field: number, JSON name, type.
#[derive(Debug)]
pub struct F(pub u32, pub &'static str, pub T);

/// Every message, sorted by name.
pub static MESSAGES: &[(&str, &[F])] = &[
    (
        "apps.v1.DaemonSet",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("apps.v1.DaemonSetSpec")),
            F(3, "status", T::Msg("apps.v1.DaemonSetStatus")),
        ],
    ),
    (
        "apps.v1.DaemonSetCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "lastTransitionTime", T::Time),
            F(4, "reason", T::Str),
            F(5, "message", T::Str),
        ],
    ),
    (
        "apps.v1.DaemonSetSpec",
        &[
            F(1, "selector", T::Msg("meta.v1.LabelSelector")),
            F(2, "template", T::Msg("core.v1.PodTemplateSpec")),
            F(
                3,
                "updateStrategy",
                T::Msg("apps.v1.DaemonSetUpdateStrategy"),
            ),
            F(4, "minReadySeconds", T::Int),
            F(6, "revisionHistoryLimit", T::Int),
        ],
    ),
    (
        "apps.v1.DaemonSetStatus",
        &[
            F(1, "currentNumberScheduled", T::Int),
            F(2, "numberMisscheduled", T::Int),
            F(3, "desiredNumberScheduled", T::Int),
            F(4, "numberReady", T::Int),
            F(5, "observedGeneration", T::Int),
            F(6, "updatedNumberScheduled", T::Int),
            F(7, "numberAvailable", T::Int),
            F(8, "numberUnavailable", T::Int),
            F(9, "collisionCount", T::Int),
            F(
                10,
                "conditions",
                T::List(&T::Msg("apps.v1.DaemonSetCondition")),
            ),
        ],
    ),
    (
        "apps.v1.DaemonSetUpdateStrategy",
        &[
            F(1, "type", T::Str),
            F(2, "rollingUpdate", T::Msg("apps.v1.RollingUpdateDaemonSet")),
        ],
    ),
    (
        "apps.v1.Deployment",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("apps.v1.DeploymentSpec")),
            F(3, "status", T::Msg("apps.v1.DeploymentStatus")),
        ],
    ),
    (
        "apps.v1.DeploymentCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(4, "reason", T::Str),
            F(5, "message", T::Str),
            F(6, "lastUpdateTime", T::Time),
            F(7, "lastTransitionTime", T::Time),
        ],
    ),
    (
        "apps.v1.DeploymentSpec",
        &[
            F(1, "replicas", T::Int),
            F(2, "selector", T::Msg("meta.v1.LabelSelector")),
            F(3, "template", T::Msg("core.v1.PodTemplateSpec")),
            F(4, "strategy", T::Msg("apps.v1.DeploymentStrategy")),
            F(5, "minReadySeconds", T::Int),
            F(6, "revisionHistoryLimit", T::Int),
            F(7, "paused", T::Bool),
            F(9, "progressDeadlineSeconds", T::Int),
        ],
    ),
    (
        "apps.v1.DeploymentStatus",
        &[
            F(1, "observedGeneration", T::Int),
            F(2, "replicas", T::Int),
            F(3, "updatedReplicas", T::Int),
            F(4, "availableReplicas", T::Int),
            F(5, "unavailableReplicas", T::Int),
            F(
                6,
                "conditions",
                T::List(&T::Msg("apps.v1.DeploymentCondition")),
            ),
            F(7, "readyReplicas", T::Int),
            F(8, "collisionCount", T::Int),
            F(9, "terminatingReplicas", T::Int),
        ],
    ),
    (
        "apps.v1.DeploymentStrategy",
        &[
            F(1, "type", T::Str),
            F(
                2,
                "rollingUpdate",
                T::Msg("apps.v1.RollingUpdateDeployment"),
            ),
        ],
    ),
    (
        "apps.v1.ReplicaSet",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("apps.v1.ReplicaSetSpec")),
            F(3, "status", T::Msg("apps.v1.ReplicaSetStatus")),
        ],
    ),
    (
        "apps.v1.ReplicaSetCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "lastTransitionTime", T::Time),
            F(4, "reason", T::Str),
            F(5, "message", T::Str),
        ],
    ),
    (
        "apps.v1.ReplicaSetSpec",
        &[
            F(1, "replicas", T::Int),
            F(2, "selector", T::Msg("meta.v1.LabelSelector")),
            F(3, "template", T::Msg("core.v1.PodTemplateSpec")),
            F(4, "minReadySeconds", T::Int),
        ],
    ),
    (
        "apps.v1.ReplicaSetStatus",
        &[
            F(1, "replicas", T::Int),
            F(2, "fullyLabeledReplicas", T::Int),
            F(3, "observedGeneration", T::Int),
            F(4, "readyReplicas", T::Int),
            F(5, "availableReplicas", T::Int),
            F(
                6,
                "conditions",
                T::List(&T::Msg("apps.v1.ReplicaSetCondition")),
            ),
            F(7, "terminatingReplicas", T::Int),
        ],
    ),
    (
        "apps.v1.RollingUpdateDaemonSet",
        &[
            F(1, "maxUnavailable", T::IntOrString),
            F(2, "maxSurge", T::IntOrString),
        ],
    ),
    (
        "apps.v1.RollingUpdateDeployment",
        &[
            F(1, "maxUnavailable", T::IntOrString),
            F(2, "maxSurge", T::IntOrString),
        ],
    ),
    (
        "apps.v1.RollingUpdateStatefulSetStrategy",
        &[
            F(1, "partition", T::Int),
            F(2, "maxUnavailable", T::IntOrString),
        ],
    ),
    (
        "apps.v1.StatefulSet",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("apps.v1.StatefulSetSpec")),
            F(3, "status", T::Msg("apps.v1.StatefulSetStatus")),
        ],
    ),
    (
        "apps.v1.StatefulSetCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "lastTransitionTime", T::Time),
            F(4, "reason", T::Str),
            F(5, "message", T::Str),
        ],
    ),
    ("apps.v1.StatefulSetOrdinals", &[F(1, "start", T::Int)]),
    (
        "apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
        &[F(1, "whenDeleted", T::Str), F(2, "whenScaled", T::Str)],
    ),
    (
        "apps.v1.StatefulSetSpec",
        &[
            F(1, "replicas", T::Int),
            F(2, "selector", T::Msg("meta.v1.LabelSelector")),
            F(3, "template", T::Msg("core.v1.PodTemplateSpec")),
            F(
                4,
                "volumeClaimTemplates",
                T::List(&T::Msg("core.v1.PersistentVolumeClaim")),
            ),
            F(5, "serviceName", T::Str),
            F(6, "podManagementPolicy", T::Str),
            F(
                7,
                "updateStrategy",
                T::Msg("apps.v1.StatefulSetUpdateStrategy"),
            ),
            F(8, "revisionHistoryLimit", T::Int),
            F(9, "minReadySeconds", T::Int),
            F(
                10,
                "persistentVolumeClaimRetentionPolicy",
                T::Msg("apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy"),
            ),
            F(11, "ordinals", T::Msg("apps.v1.StatefulSetOrdinals")),
        ],
    ),
    (
        "apps.v1.StatefulSetStatus",
        &[
            F(1, "observedGeneration", T::Int),
            F(2, "replicas", T::Int),
            F(3, "readyReplicas", T::Int),
            F(4, "currentReplicas", T::Int),
            F(5, "updatedReplicas", T::Int),
            F(6, "currentRevision", T::Str),
            F(7, "updateRevision", T::Str),
            F(9, "collisionCount", T::Int),
            F(
                10,
                "conditions",
                T::List(&T::Msg("apps.v1.StatefulSetCondition")),
            ),
            F(11, "availableReplicas", T::Int),
        ],
    ),
    (
        "apps.v1.StatefulSetUpdateStrategy",
        &[
            F(1, "type", T::Str),
            F(
                2,
                "rollingUpdate",
                T::Msg("apps.v1.RollingUpdateStatefulSetStrategy"),
            ),
        ],
    ),
    (
        "authentication.v1.SelfSubjectReview",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(
                2,
                "status",
                T::Msg("authentication.v1.SelfSubjectReviewStatus"),
            ),
        ],
    ),
    (
        "authentication.v1.SelfSubjectReviewStatus",
        &[F(1, "userInfo", T::Msg("authentication.v1.UserInfo"))],
    ),
    (
        "authentication.v1.TokenReview",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("authentication.v1.TokenReviewSpec")),
            F(3, "status", T::Msg("authentication.v1.TokenReviewStatus")),
        ],
    ),
    (
        "authentication.v1.TokenReviewSpec",
        &[F(1, "token", T::Str), F(2, "audiences", T::List(&T::Str))],
    ),
    (
        "authentication.v1.TokenReviewStatus",
        &[
            F(1, "authenticated", T::Bool),
            F(2, "user", T::Msg("authentication.v1.UserInfo")),
            F(3, "error", T::Str),
            F(4, "audiences", T::List(&T::Str)),
        ],
    ),
    (
        "authentication.v1.UserInfo",
        &[
            F(1, "username", T::Str),
            F(2, "uid", T::Str),
            F(3, "groups", T::List(&T::Str)),
        ],
    ),
    (
        "authorization.v1.FieldSelectorAttributes",
        &[
            F(1, "rawSelector", T::Str),
            F(
                2,
                "requirements",
                T::List(&T::Msg("meta.v1.FieldSelectorRequirement")),
            ),
        ],
    ),
    (
        "authorization.v1.LabelSelectorAttributes",
        &[
            F(1, "rawSelector", T::Str),
            F(
                2,
                "requirements",
                T::List(&T::Msg("meta.v1.LabelSelectorRequirement")),
            ),
        ],
    ),
    (
        "authorization.v1.LocalSubjectAccessReview",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(
                2,
                "spec",
                T::Msg("authorization.v1.SubjectAccessReviewSpec"),
            ),
            F(
                3,
                "status",
                T::Msg("authorization.v1.SubjectAccessReviewStatus"),
            ),
        ],
    ),
    (
        "authorization.v1.NonResourceAttributes",
        &[F(1, "path", T::Str), F(2, "verb", T::Str)],
    ),
    (
        "authorization.v1.NonResourceRule",
        &[
            F(1, "verbs", T::List(&T::Str)),
            F(2, "nonResourceURLs", T::List(&T::Str)),
        ],
    ),
    (
        "authorization.v1.ResourceAttributes",
        &[
            F(1, "namespace", T::Str),
            F(2, "verb", T::Str),
            F(3, "group", T::Str),
            F(4, "version", T::Str),
            F(5, "resource", T::Str),
            F(6, "subresource", T::Str),
            F(7, "name", T::Str),
            F(
                8,
                "fieldSelector",
                T::Msg("authorization.v1.FieldSelectorAttributes"),
            ),
            F(
                9,
                "labelSelector",
                T::Msg("authorization.v1.LabelSelectorAttributes"),
            ),
        ],
    ),
    (
        "authorization.v1.ResourceRule",
        &[
            F(1, "verbs", T::List(&T::Str)),
            F(2, "apiGroups", T::List(&T::Str)),
            F(3, "resources", T::List(&T::Str)),
            F(4, "resourceNames", T::List(&T::Str)),
        ],
    ),
    (
        "authorization.v1.SelfSubjectAccessReview",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(
                2,
                "spec",
                T::Msg("authorization.v1.SelfSubjectAccessReviewSpec"),
            ),
            F(
                3,
                "status",
                T::Msg("authorization.v1.SubjectAccessReviewStatus"),
            ),
        ],
    ),
    (
        "authorization.v1.SelfSubjectAccessReviewSpec",
        &[
            F(
                1,
                "resourceAttributes",
                T::Msg("authorization.v1.ResourceAttributes"),
            ),
            F(
                2,
                "nonResourceAttributes",
                T::Msg("authorization.v1.NonResourceAttributes"),
            ),
        ],
    ),
    (
        "authorization.v1.SelfSubjectRulesReview",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(
                2,
                "spec",
                T::Msg("authorization.v1.SelfSubjectRulesReviewSpec"),
            ),
            F(
                3,
                "status",
                T::Msg("authorization.v1.SubjectRulesReviewStatus"),
            ),
        ],
    ),
    (
        "authorization.v1.SelfSubjectRulesReviewSpec",
        &[F(1, "namespace", T::Str)],
    ),
    (
        "authorization.v1.SubjectAccessReview",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(
                2,
                "spec",
                T::Msg("authorization.v1.SubjectAccessReviewSpec"),
            ),
            F(
                3,
                "status",
                T::Msg("authorization.v1.SubjectAccessReviewStatus"),
            ),
        ],
    ),
    (
        "authorization.v1.SubjectAccessReviewSpec",
        &[
            F(
                1,
                "resourceAttributes",
                T::Msg("authorization.v1.ResourceAttributes"),
            ),
            F(
                2,
                "nonResourceAttributes",
                T::Msg("authorization.v1.NonResourceAttributes"),
            ),
            F(3, "user", T::Str),
            F(4, "groups", T::List(&T::Str)),
            F(6, "uid", T::Str),
        ],
    ),
    (
        "authorization.v1.SubjectAccessReviewStatus",
        &[
            F(1, "allowed", T::Bool),
            F(2, "reason", T::Str),
            F(3, "evaluationError", T::Str),
            F(4, "denied", T::Bool),
        ],
    ),
    (
        "authorization.v1.SubjectRulesReviewStatus",
        &[
            F(
                1,
                "resourceRules",
                T::List(&T::Msg("authorization.v1.ResourceRule")),
            ),
            F(
                2,
                "nonResourceRules",
                T::List(&T::Msg("authorization.v1.NonResourceRule")),
            ),
            F(3, "incomplete", T::Bool),
            F(4, "evaluationError", T::Str),
        ],
    ),
    (
        "autoscaling.v1.Scale",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("autoscaling.v1.ScaleSpec")),
            F(3, "status", T::Msg("autoscaling.v1.ScaleStatus")),
        ],
    ),
    ("autoscaling.v1.ScaleSpec", &[F(1, "replicas", T::Int)]),
    (
        "autoscaling.v1.ScaleStatus",
        &[F(1, "replicas", T::Int), F(2, "selector", T::Str)],
    ),
    (
        "batch.v1.CronJob",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("batch.v1.CronJobSpec")),
            F(3, "status", T::Msg("batch.v1.CronJobStatus")),
        ],
    ),
    (
        "batch.v1.CronJobSpec",
        &[
            F(1, "schedule", T::Str),
            F(2, "startingDeadlineSeconds", T::Int),
            F(3, "concurrencyPolicy", T::Str),
            F(4, "suspend", T::Bool),
            F(5, "jobTemplate", T::Msg("batch.v1.JobTemplateSpec")),
            F(6, "successfulJobsHistoryLimit", T::Int),
            F(7, "failedJobsHistoryLimit", T::Int),
            F(8, "timeZone", T::Str),
        ],
    ),
    (
        "batch.v1.CronJobStatus",
        &[
            F(1, "active", T::List(&T::Msg("core.v1.ObjectReference"))),
            F(4, "lastScheduleTime", T::Time),
            F(5, "lastSuccessfulTime", T::Time),
        ],
    ),
    (
        "batch.v1.Job",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("batch.v1.JobSpec")),
            F(3, "status", T::Msg("batch.v1.JobStatus")),
        ],
    ),
    (
        "batch.v1.JobCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "lastProbeTime", T::Time),
            F(4, "lastTransitionTime", T::Time),
            F(5, "reason", T::Str),
            F(6, "message", T::Str),
        ],
    ),
    ("batch.v1.JobSchedulingConfiguration", &[]),
    (
        "batch.v1.JobSpec",
        &[
            F(1, "parallelism", T::Int),
            F(2, "completions", T::Int),
            F(3, "activeDeadlineSeconds", T::Int),
            F(4, "selector", T::Msg("meta.v1.LabelSelector")),
            F(5, "manualSelector", T::Bool),
            F(6, "template", T::Msg("core.v1.PodTemplateSpec")),
            F(7, "backoffLimit", T::Int),
            F(8, "ttlSecondsAfterFinished", T::Int),
            F(9, "completionMode", T::Str),
            F(10, "suspend", T::Bool),
            F(11, "podFailurePolicy", T::Msg("batch.v1.PodFailurePolicy")),
            F(12, "backoffLimitPerIndex", T::Int),
            F(13, "maxFailedIndexes", T::Int),
            F(14, "podReplacementPolicy", T::Str),
            F(15, "managedBy", T::Str),
            F(16, "successPolicy", T::Msg("batch.v1.SuccessPolicy")),
            F(
                17,
                "scheduling",
                T::Msg("batch.v1.JobSchedulingConfiguration"),
            ),
        ],
    ),
    (
        "batch.v1.JobStatus",
        &[
            F(1, "conditions", T::List(&T::Msg("batch.v1.JobCondition"))),
            F(2, "startTime", T::Time),
            F(3, "completionTime", T::Time),
            F(4, "active", T::Int),
            F(5, "succeeded", T::Int),
            F(6, "failed", T::Int),
            F(7, "completedIndexes", T::Str),
            F(
                8,
                "uncountedTerminatedPods",
                T::Msg("batch.v1.UncountedTerminatedPods"),
            ),
            F(9, "ready", T::Int),
            F(10, "failedIndexes", T::Str),
            F(11, "terminating", T::Int),
        ],
    ),
    (
        "batch.v1.JobTemplateSpec",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("batch.v1.JobSpec")),
        ],
    ),
    (
        "batch.v1.PodFailurePolicy",
        &[F(
            1,
            "rules",
            T::List(&T::Msg("batch.v1.PodFailurePolicyRule")),
        )],
    ),
    (
        "batch.v1.PodFailurePolicyOnExitCodesRequirement",
        &[
            F(1, "containerName", T::Str),
            F(2, "operator", T::Str),
            F(3, "values", T::List(&T::Int)),
        ],
    ),
    (
        "batch.v1.PodFailurePolicyOnPodConditionsPattern",
        &[F(1, "type", T::Str), F(2, "status", T::Str)],
    ),
    (
        "batch.v1.PodFailurePolicyRule",
        &[
            F(1, "action", T::Str),
            F(
                2,
                "onExitCodes",
                T::Msg("batch.v1.PodFailurePolicyOnExitCodesRequirement"),
            ),
            F(
                3,
                "onPodConditions",
                T::List(&T::Msg("batch.v1.PodFailurePolicyOnPodConditionsPattern")),
            ),
        ],
    ),
    (
        "batch.v1.SuccessPolicy",
        &[F(
            1,
            "rules",
            T::List(&T::Msg("batch.v1.SuccessPolicyRule")),
        )],
    ),
    (
        "batch.v1.SuccessPolicyRule",
        &[
            F(1, "succeededIndexes", T::Str),
            F(2, "succeededCount", T::Int),
        ],
    ),
    (
        "batch.v1.UncountedTerminatedPods",
        &[
            F(1, "succeeded", T::List(&T::Str)),
            F(2, "failed", T::List(&T::Str)),
        ],
    ),
    (
        "certificates.v1.CertificateSigningRequest",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(
                2,
                "spec",
                T::Msg("certificates.v1.CertificateSigningRequestSpec"),
            ),
            F(
                3,
                "status",
                T::Msg("certificates.v1.CertificateSigningRequestStatus"),
            ),
        ],
    ),
    (
        "certificates.v1.CertificateSigningRequestCondition",
        &[
            F(1, "type", T::Str),
            F(2, "reason", T::Str),
            F(3, "message", T::Str),
            F(4, "lastUpdateTime", T::Time),
            F(5, "lastTransitionTime", T::Time),
            F(6, "status", T::Str),
        ],
    ),
    (
        "certificates.v1.CertificateSigningRequestSpec",
        &[
            F(1, "request", T::Bytes),
            F(2, "username", T::Str),
            F(3, "uid", T::Str),
            F(4, "groups", T::List(&T::Str)),
            F(5, "usages", T::List(&T::Str)),
            F(7, "signerName", T::Str),
            F(8, "expirationSeconds", T::Int),
        ],
    ),
    (
        "certificates.v1.CertificateSigningRequestStatus",
        &[
            F(
                1,
                "conditions",
                T::List(&T::Msg(
                    "certificates.v1.CertificateSigningRequestCondition",
                )),
            ),
            F(2, "certificate", T::Bytes),
        ],
    ),
    (
        "coordination.v1.Lease",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("coordination.v1.LeaseSpec")),
        ],
    ),
    (
        "coordination.v1.LeaseSpec",
        &[
            F(1, "holderIdentity", T::Str),
            F(2, "leaseDurationSeconds", T::Int),
            F(3, "acquireTime", T::MicroTime),
            F(4, "renewTime", T::MicroTime),
            F(5, "leaseTransitions", T::Int),
            F(6, "strategy", T::Str),
            F(7, "preferredHolder", T::Str),
        ],
    ),
    (
        "core.v1.AWSElasticBlockStoreVolumeSource",
        &[
            F(1, "volumeID", T::Str),
            F(2, "fsType", T::Str),
            F(3, "partition", T::Int),
            F(4, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.Affinity",
        &[
            F(1, "nodeAffinity", T::Msg("core.v1.NodeAffinity")),
            F(2, "podAffinity", T::Msg("core.v1.PodAffinity")),
            F(3, "podAntiAffinity", T::Msg("core.v1.PodAntiAffinity")),
        ],
    ),
    (
        "core.v1.AppArmorProfile",
        &[F(1, "type", T::Str), F(2, "localhostProfile", T::Str)],
    ),
    (
        "core.v1.AttachedVolume",
        &[F(1, "name", T::Str), F(2, "devicePath", T::Str)],
    ),
    (
        "core.v1.AzureDiskVolumeSource",
        &[
            F(1, "diskName", T::Str),
            F(2, "diskURI", T::Str),
            F(3, "cachingMode", T::Str),
            F(4, "fsType", T::Str),
            F(5, "readOnly", T::Bool),
            F(6, "kind", T::Str),
        ],
    ),
    (
        "core.v1.AzureFileVolumeSource",
        &[
            F(1, "secretName", T::Str),
            F(2, "shareName", T::Str),
            F(3, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.Binding",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "target", T::Msg("core.v1.ObjectReference")),
        ],
    ),
    (
        "core.v1.CSIVolumeSource",
        &[
            F(1, "driver", T::Str),
            F(2, "readOnly", T::Bool),
            F(3, "fsType", T::Str),
            F(4, "volumeAttributes", T::Map(&T::Str)),
            F(
                5,
                "nodePublishSecretRef",
                T::Msg("core.v1.LocalObjectReference"),
            ),
        ],
    ),
    (
        "core.v1.Capabilities",
        &[
            F(1, "add", T::List(&T::Str)),
            F(2, "drop", T::List(&T::Str)),
        ],
    ),
    (
        "core.v1.CephFSVolumeSource",
        &[
            F(1, "monitors", T::List(&T::Str)),
            F(2, "path", T::Str),
            F(3, "user", T::Str),
            F(4, "secretFile", T::Str),
            F(5, "secretRef", T::Msg("core.v1.LocalObjectReference")),
            F(6, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.CinderVolumeSource",
        &[
            F(1, "volumeID", T::Str),
            F(2, "fsType", T::Str),
            F(3, "readOnly", T::Bool),
            F(4, "secretRef", T::Msg("core.v1.LocalObjectReference")),
        ],
    ),
    ("core.v1.ClientIPConfig", &[F(1, "timeoutSeconds", T::Int)]),
    (
        "core.v1.ClusterTrustBundleProjection",
        &[
            F(1, "name", T::Str),
            F(2, "signerName", T::Str),
            F(3, "labelSelector", T::Msg("meta.v1.LabelSelector")),
            F(4, "path", T::Str),
            F(5, "optional", T::Bool),
            F(6, "user", T::Int),
        ],
    ),
    (
        "core.v1.ConfigMap",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "data", T::Map(&T::Str)),
            F(3, "binaryData", T::Map(&T::Bytes)),
            F(4, "immutable", T::Bool),
        ],
    ),
    (
        "core.v1.ConfigMapEnvSource",
        &[
            F(
                1,
                "localObjectReference",
                T::Msg("core.v1.LocalObjectReference"),
            ),
            F(2, "optional", T::Bool),
        ],
    ),
    (
        "core.v1.ConfigMapKeySelector",
        &[
            F(
                1,
                "localObjectReference",
                T::Msg("core.v1.LocalObjectReference"),
            ),
            F(2, "key", T::Str),
            F(3, "optional", T::Bool),
        ],
    ),
    (
        "core.v1.ConfigMapNodeConfigSource",
        &[
            F(1, "namespace", T::Str),
            F(2, "name", T::Str),
            F(3, "uid", T::Str),
            F(4, "resourceVersion", T::Str),
            F(5, "kubeletConfigKey", T::Str),
        ],
    ),
    (
        "core.v1.ConfigMapProjection",
        &[
            F(
                1,
                "localObjectReference",
                T::Msg("core.v1.LocalObjectReference"),
            ),
            F(2, "items", T::List(&T::Msg("core.v1.KeyToPath"))),
            F(4, "optional", T::Bool),
        ],
    ),
    (
        "core.v1.ConfigMapVolumeSource",
        &[
            F(
                1,
                "localObjectReference",
                T::Msg("core.v1.LocalObjectReference"),
            ),
            F(2, "items", T::List(&T::Msg("core.v1.KeyToPath"))),
            F(3, "defaultMode", T::Int),
            F(4, "optional", T::Bool),
            F(5, "defaultUser", T::Int),
        ],
    ),
    (
        "core.v1.Container",
        &[
            F(1, "name", T::Str),
            F(2, "image", T::Str),
            F(3, "command", T::List(&T::Str)),
            F(4, "args", T::List(&T::Str)),
            F(5, "workingDir", T::Str),
            F(6, "ports", T::List(&T::Msg("core.v1.ContainerPort"))),
            F(7, "env", T::List(&T::Msg("core.v1.EnvVar"))),
            F(8, "resources", T::Msg("core.v1.ResourceRequirements")),
            F(9, "volumeMounts", T::List(&T::Msg("core.v1.VolumeMount"))),
            F(10, "livenessProbe", T::Msg("core.v1.Probe")),
            F(11, "readinessProbe", T::Msg("core.v1.Probe")),
            F(12, "lifecycle", T::Msg("core.v1.Lifecycle")),
            F(13, "terminationMessagePath", T::Str),
            F(14, "imagePullPolicy", T::Str),
            F(15, "securityContext", T::Msg("core.v1.SecurityContext")),
            F(16, "stdin", T::Bool),
            F(17, "stdinOnce", T::Bool),
            F(18, "tty", T::Bool),
            F(19, "envFrom", T::List(&T::Msg("core.v1.EnvFromSource"))),
            F(20, "terminationMessagePolicy", T::Str),
            F(
                21,
                "volumeDevices",
                T::List(&T::Msg("core.v1.VolumeDevice")),
            ),
            F(22, "startupProbe", T::Msg("core.v1.Probe")),
            F(
                23,
                "resizePolicy",
                T::List(&T::Msg("core.v1.ContainerResizePolicy")),
            ),
            F(24, "restartPolicy", T::Str),
            F(
                25,
                "restartPolicyRules",
                T::List(&T::Msg("core.v1.ContainerRestartRule")),
            ),
        ],
    ),
    (
        "core.v1.ContainerExtendedResourceRequest",
        &[
            F(1, "containerName", T::Str),
            F(2, "resourceName", T::Str),
            F(3, "requestName", T::Str),
        ],
    ),
    (
        "core.v1.ContainerImage",
        &[F(1, "names", T::List(&T::Str)), F(2, "sizeBytes", T::Int)],
    ),
    (
        "core.v1.ContainerPort",
        &[
            F(1, "name", T::Str),
            F(2, "hostPort", T::Int),
            F(3, "containerPort", T::Int),
            F(4, "protocol", T::Str),
            F(5, "hostIP", T::Str),
        ],
    ),
    (
        "core.v1.ContainerResizePolicy",
        &[F(1, "resourceName", T::Str), F(2, "restartPolicy", T::Str)],
    ),
    (
        "core.v1.ContainerRestartRule",
        &[
            F(1, "action", T::Str),
            F(
                2,
                "exitCodes",
                T::Msg("core.v1.ContainerRestartRuleOnExitCodes"),
            ),
        ],
    ),
    (
        "core.v1.ContainerRestartRuleOnExitCodes",
        &[F(1, "operator", T::Str), F(2, "values", T::List(&T::Int))],
    ),
    (
        "core.v1.ContainerState",
        &[
            F(1, "waiting", T::Msg("core.v1.ContainerStateWaiting")),
            F(2, "running", T::Msg("core.v1.ContainerStateRunning")),
            F(3, "terminated", T::Msg("core.v1.ContainerStateTerminated")),
        ],
    ),
    (
        "core.v1.ContainerStateRunning",
        &[F(1, "startedAt", T::Time)],
    ),
    (
        "core.v1.ContainerStateTerminated",
        &[
            F(1, "exitCode", T::Int),
            F(2, "signal", T::Int),
            F(3, "reason", T::Str),
            F(4, "message", T::Str),
            F(5, "startedAt", T::Time),
            F(6, "finishedAt", T::Time),
            F(7, "containerID", T::Str),
        ],
    ),
    (
        "core.v1.ContainerStateWaiting",
        &[F(1, "reason", T::Str), F(2, "message", T::Str)],
    ),
    (
        "core.v1.ContainerStatus",
        &[
            F(1, "name", T::Str),
            F(2, "state", T::Msg("core.v1.ContainerState")),
            F(3, "lastState", T::Msg("core.v1.ContainerState")),
            F(4, "ready", T::Bool),
            F(5, "restartCount", T::Int),
            F(6, "image", T::Str),
            F(7, "imageID", T::Str),
            F(8, "containerID", T::Str),
            F(9, "started", T::Bool),
            F(10, "allocatedResources", T::Map(&T::Quantity)),
            F(11, "resources", T::Msg("core.v1.ResourceRequirements")),
            F(
                12,
                "volumeMounts",
                T::List(&T::Msg("core.v1.VolumeMountStatus")),
            ),
            F(13, "user", T::Msg("core.v1.ContainerUser")),
            F(
                14,
                "allocatedResourcesStatus",
                T::List(&T::Msg("core.v1.ResourceStatus")),
            ),
            F(15, "stopSignal", T::Str),
        ],
    ),
    (
        "core.v1.ContainerUser",
        &[F(1, "linux", T::Msg("core.v1.LinuxContainerUser"))],
    ),
    ("core.v1.DaemonEndpoint", &[F(1, "Port", T::Int)]),
    (
        "core.v1.DownwardAPIProjection",
        &[F(
            1,
            "items",
            T::List(&T::Msg("core.v1.DownwardAPIVolumeFile")),
        )],
    ),
    (
        "core.v1.DownwardAPIVolumeFile",
        &[
            F(1, "path", T::Str),
            F(2, "fieldRef", T::Msg("core.v1.ObjectFieldSelector")),
            F(
                3,
                "resourceFieldRef",
                T::Msg("core.v1.ResourceFieldSelector"),
            ),
            F(4, "mode", T::Int),
            F(5, "user", T::Int),
        ],
    ),
    (
        "core.v1.DownwardAPIVolumeSource",
        &[
            F(
                1,
                "items",
                T::List(&T::Msg("core.v1.DownwardAPIVolumeFile")),
            ),
            F(2, "defaultMode", T::Int),
            F(3, "defaultUser", T::Int),
        ],
    ),
    (
        "core.v1.EmptyDirVolumeSource",
        &[
            F(1, "medium", T::Str),
            F(2, "sizeLimit", T::Quantity),
            F(3, "mode", T::Int),
        ],
    ),
    (
        "core.v1.EndpointAddress",
        &[
            F(1, "ip", T::Str),
            F(2, "targetRef", T::Msg("core.v1.ObjectReference")),
            F(3, "hostname", T::Str),
            F(4, "nodeName", T::Str),
        ],
    ),
    (
        "core.v1.EndpointPort",
        &[
            F(1, "name", T::Str),
            F(2, "port", T::Int),
            F(3, "protocol", T::Str),
            F(4, "appProtocol", T::Str),
        ],
    ),
    (
        "core.v1.EndpointSubset",
        &[
            F(1, "addresses", T::List(&T::Msg("core.v1.EndpointAddress"))),
            F(
                2,
                "notReadyAddresses",
                T::List(&T::Msg("core.v1.EndpointAddress")),
            ),
            F(3, "ports", T::List(&T::Msg("core.v1.EndpointPort"))),
        ],
    ),
    (
        "core.v1.Endpoints",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "subsets", T::List(&T::Msg("core.v1.EndpointSubset"))),
        ],
    ),
    (
        "core.v1.EnvFromSource",
        &[
            F(1, "prefix", T::Str),
            F(2, "configMapRef", T::Msg("core.v1.ConfigMapEnvSource")),
            F(3, "secretRef", T::Msg("core.v1.SecretEnvSource")),
        ],
    ),
    (
        "core.v1.EnvVar",
        &[
            F(1, "name", T::Str),
            F(2, "value", T::Str),
            F(3, "valueFrom", T::Msg("core.v1.EnvVarSource")),
        ],
    ),
    (
        "core.v1.EnvVarSource",
        &[
            F(1, "fieldRef", T::Msg("core.v1.ObjectFieldSelector")),
            F(
                2,
                "resourceFieldRef",
                T::Msg("core.v1.ResourceFieldSelector"),
            ),
            F(3, "configMapKeyRef", T::Msg("core.v1.ConfigMapKeySelector")),
            F(4, "secretKeyRef", T::Msg("core.v1.SecretKeySelector")),
            F(5, "fileKeyRef", T::Msg("core.v1.FileKeySelector")),
        ],
    ),
    (
        "core.v1.EphemeralContainer",
        &[
            F(
                1,
                "ephemeralContainerCommon",
                T::Inline("core.v1.EphemeralContainerCommon"),
            ),
            F(2, "targetContainerName", T::Str),
        ],
    ),
    (
        "core.v1.EphemeralContainerCommon",
        &[
            F(1, "name", T::Str),
            F(2, "image", T::Str),
            F(3, "command", T::List(&T::Str)),
            F(4, "args", T::List(&T::Str)),
            F(5, "workingDir", T::Str),
            F(6, "ports", T::List(&T::Msg("core.v1.ContainerPort"))),
            F(7, "env", T::List(&T::Msg("core.v1.EnvVar"))),
            F(8, "resources", T::Msg("core.v1.ResourceRequirements")),
            F(9, "volumeMounts", T::List(&T::Msg("core.v1.VolumeMount"))),
            F(10, "livenessProbe", T::Msg("core.v1.Probe")),
            F(11, "readinessProbe", T::Msg("core.v1.Probe")),
            F(12, "lifecycle", T::Msg("core.v1.Lifecycle")),
            F(13, "terminationMessagePath", T::Str),
            F(14, "imagePullPolicy", T::Str),
            F(15, "securityContext", T::Msg("core.v1.SecurityContext")),
            F(16, "stdin", T::Bool),
            F(17, "stdinOnce", T::Bool),
            F(18, "tty", T::Bool),
            F(19, "envFrom", T::List(&T::Msg("core.v1.EnvFromSource"))),
            F(20, "terminationMessagePolicy", T::Str),
            F(
                21,
                "volumeDevices",
                T::List(&T::Msg("core.v1.VolumeDevice")),
            ),
            F(22, "startupProbe", T::Msg("core.v1.Probe")),
            F(
                23,
                "resizePolicy",
                T::List(&T::Msg("core.v1.ContainerResizePolicy")),
            ),
            F(24, "restartPolicy", T::Str),
            F(
                25,
                "restartPolicyRules",
                T::List(&T::Msg("core.v1.ContainerRestartRule")),
            ),
        ],
    ),
    (
        "core.v1.EphemeralVolumeSource",
        &[F(
            1,
            "volumeClaimTemplate",
            T::Msg("core.v1.PersistentVolumeClaimTemplate"),
        )],
    ),
    (
        "core.v1.Event",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "involvedObject", T::Msg("core.v1.ObjectReference")),
            F(3, "reason", T::Str),
            F(4, "message", T::Str),
            F(5, "source", T::Msg("core.v1.EventSource")),
            F(6, "firstTimestamp", T::Time),
            F(7, "lastTimestamp", T::Time),
            F(8, "count", T::Int),
            F(9, "type", T::Str),
            F(10, "eventTime", T::MicroTime),
            F(11, "series", T::Msg("core.v1.EventSeries")),
            F(12, "action", T::Str),
            F(13, "related", T::Msg("core.v1.ObjectReference")),
            F(14, "reportingComponent", T::Str),
            F(15, "reportingInstance", T::Str),
        ],
    ),
    (
        "core.v1.EventSeries",
        &[
            F(1, "count", T::Int),
            F(2, "lastObservedTime", T::MicroTime),
        ],
    ),
    (
        "core.v1.EventSource",
        &[F(1, "component", T::Str), F(2, "host", T::Str)],
    ),
    (
        "core.v1.EvictionResponder",
        &[F(1, "name", T::Str), F(2, "priority", T::Int)],
    ),
    ("core.v1.ExecAction", &[F(1, "command", T::List(&T::Str))]),
    (
        "core.v1.FCVolumeSource",
        &[
            F(1, "targetWWNs", T::List(&T::Str)),
            F(2, "lun", T::Int),
            F(3, "fsType", T::Str),
            F(4, "readOnly", T::Bool),
            F(5, "wwids", T::List(&T::Str)),
        ],
    ),
    (
        "core.v1.FileKeySelector",
        &[
            F(1, "volumeName", T::Str),
            F(2, "path", T::Str),
            F(3, "key", T::Str),
            F(4, "optional", T::Bool),
        ],
    ),
    (
        "core.v1.FlexVolumeSource",
        &[
            F(1, "driver", T::Str),
            F(2, "fsType", T::Str),
            F(3, "secretRef", T::Msg("core.v1.LocalObjectReference")),
            F(4, "readOnly", T::Bool),
            F(5, "options", T::Map(&T::Str)),
        ],
    ),
    (
        "core.v1.FlockerVolumeSource",
        &[F(1, "datasetName", T::Str), F(2, "datasetUUID", T::Str)],
    ),
    (
        "core.v1.GCEPersistentDiskVolumeSource",
        &[
            F(1, "pdName", T::Str),
            F(2, "fsType", T::Str),
            F(3, "partition", T::Int),
            F(4, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.GRPCAction",
        &[
            F(1, "port", T::Int),
            F(2, "service", T::Str),
            F(3, "mode", T::Str),
        ],
    ),
    (
        "core.v1.GitRepoVolumeSource",
        &[
            F(1, "repository", T::Str),
            F(2, "revision", T::Str),
            F(3, "directory", T::Str),
        ],
    ),
    (
        "core.v1.GlusterfsVolumeSource",
        &[
            F(1, "endpoints", T::Str),
            F(2, "path", T::Str),
            F(3, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.HTTPGetAction",
        &[
            F(1, "path", T::Str),
            F(2, "port", T::IntOrString),
            F(3, "host", T::Str),
            F(4, "scheme", T::Str),
            F(5, "httpHeaders", T::List(&T::Msg("core.v1.HTTPHeader"))),
            F(6, "protocol", T::Str),
        ],
    ),
    (
        "core.v1.HTTPHeader",
        &[F(1, "name", T::Str), F(2, "value", T::Str)],
    ),
    (
        "core.v1.HostAlias",
        &[F(1, "ip", T::Str), F(2, "hostnames", T::List(&T::Str))],
    ),
    ("core.v1.HostIP", &[F(1, "ip", T::Str)]),
    (
        "core.v1.HostPathVolumeSource",
        &[F(1, "path", T::Str), F(2, "type", T::Str)],
    ),
    (
        "core.v1.ISCSIVolumeSource",
        &[
            F(1, "targetPortal", T::Str),
            F(2, "iqn", T::Str),
            F(3, "lun", T::Int),
            F(4, "iscsiInterface", T::Str),
            F(5, "fsType", T::Str),
            F(6, "readOnly", T::Bool),
            F(7, "portals", T::List(&T::Str)),
            F(8, "chapAuthDiscovery", T::Bool),
            F(10, "secretRef", T::Msg("core.v1.LocalObjectReference")),
            F(11, "chapAuthSession", T::Bool),
            F(12, "initiatorName", T::Str),
        ],
    ),
    (
        "core.v1.ImageVolumeSource",
        &[F(1, "reference", T::Str), F(2, "pullPolicy", T::Str)],
    ),
    ("core.v1.ImageVolumeStatus", &[F(1, "imageRef", T::Str)]),
    (
        "core.v1.KeyToPath",
        &[
            F(1, "key", T::Str),
            F(2, "path", T::Str),
            F(3, "mode", T::Int),
            F(4, "user", T::Int),
        ],
    ),
    (
        "core.v1.Lifecycle",
        &[
            F(1, "postStart", T::Msg("core.v1.LifecycleHandler")),
            F(2, "preStop", T::Msg("core.v1.LifecycleHandler")),
            F(3, "stopSignal", T::Str),
        ],
    ),
    (
        "core.v1.LifecycleHandler",
        &[
            F(1, "exec", T::Msg("core.v1.ExecAction")),
            F(2, "httpGet", T::Msg("core.v1.HTTPGetAction")),
            F(3, "tcpSocket", T::Msg("core.v1.TCPSocketAction")),
            F(4, "sleep", T::Msg("core.v1.SleepAction")),
        ],
    ),
    (
        "core.v1.LinuxContainerUser",
        &[
            F(1, "uid", T::Int),
            F(2, "gid", T::Int),
            F(3, "supplementalGroups", T::List(&T::Int)),
        ],
    ),
    (
        "core.v1.LoadBalancerIngress",
        &[
            F(1, "ip", T::Str),
            F(2, "hostname", T::Str),
            F(3, "ipMode", T::Str),
            F(4, "ports", T::List(&T::Msg("core.v1.PortStatus"))),
        ],
    ),
    (
        "core.v1.LoadBalancerStatus",
        &[F(
            1,
            "ingress",
            T::List(&T::Msg("core.v1.LoadBalancerIngress")),
        )],
    ),
    ("core.v1.LocalObjectReference", &[F(1, "name", T::Str)]),
    (
        "core.v1.ModifyVolumeStatus",
        &[
            F(1, "targetVolumeAttributesClassName", T::Str),
            F(2, "status", T::Str),
        ],
    ),
    (
        "core.v1.NFSVolumeSource",
        &[
            F(1, "server", T::Str),
            F(2, "path", T::Str),
            F(3, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.Namespace",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("core.v1.NamespaceSpec")),
            F(3, "status", T::Msg("core.v1.NamespaceStatus")),
        ],
    ),
    (
        "core.v1.NamespaceCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(4, "lastTransitionTime", T::Time),
            F(5, "reason", T::Str),
            F(6, "message", T::Str),
        ],
    ),
    (
        "core.v1.NamespaceSpec",
        &[F(1, "finalizers", T::List(&T::Str))],
    ),
    (
        "core.v1.NamespaceStatus",
        &[
            F(1, "phase", T::Str),
            F(
                2,
                "conditions",
                T::List(&T::Msg("core.v1.NamespaceCondition")),
            ),
        ],
    ),
    (
        "core.v1.Node",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("core.v1.NodeSpec")),
            F(3, "status", T::Msg("core.v1.NodeStatus")),
        ],
    ),
    (
        "core.v1.NodeAddress",
        &[F(1, "type", T::Str), F(2, "address", T::Str)],
    ),
    (
        "core.v1.NodeAffinity",
        &[
            F(
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                T::Msg("core.v1.NodeSelector"),
            ),
            F(
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                T::List(&T::Msg("core.v1.PreferredSchedulingTerm")),
            ),
        ],
    ),
    (
        "core.v1.NodeAllocatableMappedResources",
        &[F(1, "name", T::Str), F(2, "quantity", T::Quantity)],
    ),
    (
        "core.v1.NodeAllocatableOverheadResources",
        &[
            F(1, "name", T::Str),
            F(2, "perPod", T::Quantity),
            F(3, "perContainer", T::Quantity),
        ],
    ),
    (
        "core.v1.NodeAllocatableResourceClaimStatus",
        &[
            F(1, "resourceClaimName", T::Str),
            F(2, "containers", T::List(&T::Str)),
            F(
                4,
                "mapping",
                T::List(&T::Msg("core.v1.NodeAllocatableMappedResources")),
            ),
            F(
                5,
                "overhead",
                T::List(&T::Msg("core.v1.NodeAllocatableOverheadResources")),
            ),
        ],
    ),
    (
        "core.v1.NodeCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "lastHeartbeatTime", T::Time),
            F(4, "lastTransitionTime", T::Time),
            F(5, "reason", T::Str),
            F(6, "message", T::Str),
        ],
    ),
    (
        "core.v1.NodeConfigSource",
        &[F(
            2,
            "configMap",
            T::Msg("core.v1.ConfigMapNodeConfigSource"),
        )],
    ),
    (
        "core.v1.NodeConfigStatus",
        &[
            F(1, "assigned", T::Msg("core.v1.NodeConfigSource")),
            F(2, "active", T::Msg("core.v1.NodeConfigSource")),
            F(3, "lastKnownGood", T::Msg("core.v1.NodeConfigSource")),
            F(4, "error", T::Str),
        ],
    ),
    (
        "core.v1.NodeDaemonEndpoints",
        &[F(1, "kubeletEndpoint", T::Msg("core.v1.DaemonEndpoint"))],
    ),
    (
        "core.v1.NodeFeatures",
        &[F(1, "supplementalGroupsPolicy", T::Bool)],
    ),
    (
        "core.v1.NodePodPreemptionPolicy",
        &[F(1, "disableResizePreemption", T::List(&T::Str))],
    ),
    (
        "core.v1.NodeRuntimeHandler",
        &[
            F(1, "name", T::Str),
            F(2, "features", T::Msg("core.v1.NodeRuntimeHandlerFeatures")),
        ],
    ),
    (
        "core.v1.NodeRuntimeHandlerFeatures",
        &[
            F(1, "recursiveReadOnlyMounts", T::Bool),
            F(2, "userNamespaces", T::Bool),
        ],
    ),
    (
        "core.v1.NodeSelector",
        &[F(
            1,
            "nodeSelectorTerms",
            T::List(&T::Msg("core.v1.NodeSelectorTerm")),
        )],
    ),
    (
        "core.v1.NodeSelectorRequirement",
        &[
            F(1, "key", T::Str),
            F(2, "operator", T::Str),
            F(3, "values", T::List(&T::Str)),
        ],
    ),
    (
        "core.v1.NodeSelectorTerm",
        &[
            F(
                1,
                "matchExpressions",
                T::List(&T::Msg("core.v1.NodeSelectorRequirement")),
            ),
            F(
                2,
                "matchFields",
                T::List(&T::Msg("core.v1.NodeSelectorRequirement")),
            ),
        ],
    ),
    (
        "core.v1.NodeSpec",
        &[
            F(1, "podCIDR", T::Str),
            F(2, "externalID", T::Str),
            F(3, "providerID", T::Str),
            F(4, "unschedulable", T::Bool),
            F(5, "taints", T::List(&T::Msg("core.v1.Taint"))),
            F(6, "configSource", T::Msg("core.v1.NodeConfigSource")),
            F(7, "podCIDRs", T::List(&T::Str)),
            F(
                8,
                "podPreemptionPolicy",
                T::Msg("core.v1.NodePodPreemptionPolicy"),
            ),
        ],
    ),
    (
        "core.v1.NodeStatus",
        &[
            F(1, "capacity", T::Map(&T::Quantity)),
            F(2, "allocatable", T::Map(&T::Quantity)),
            F(3, "phase", T::Str),
            F(4, "conditions", T::List(&T::Msg("core.v1.NodeCondition"))),
            F(5, "addresses", T::List(&T::Msg("core.v1.NodeAddress"))),
            F(6, "daemonEndpoints", T::Msg("core.v1.NodeDaemonEndpoints")),
            F(7, "nodeInfo", T::Msg("core.v1.NodeSystemInfo")),
            F(8, "images", T::List(&T::Msg("core.v1.ContainerImage"))),
            F(9, "volumesInUse", T::List(&T::Str)),
            F(
                10,
                "volumesAttached",
                T::List(&T::Msg("core.v1.AttachedVolume")),
            ),
            F(11, "config", T::Msg("core.v1.NodeConfigStatus")),
            F(
                12,
                "runtimeHandlers",
                T::List(&T::Msg("core.v1.NodeRuntimeHandler")),
            ),
            F(13, "features", T::Msg("core.v1.NodeFeatures")),
            F(14, "declaredFeatures", T::List(&T::Str)),
        ],
    ),
    ("core.v1.NodeSwapStatus", &[F(1, "capacity", T::Int)]),
    (
        "core.v1.NodeSystemInfo",
        &[
            F(1, "machineID", T::Str),
            F(2, "systemUUID", T::Str),
            F(3, "bootID", T::Str),
            F(4, "kernelVersion", T::Str),
            F(5, "osImage", T::Str),
            F(6, "containerRuntimeVersion", T::Str),
            F(7, "kubeletVersion", T::Str),
            F(8, "kubeProxyVersion", T::Str),
            F(9, "operatingSystem", T::Str),
            F(10, "architecture", T::Str),
            F(11, "swap", T::Msg("core.v1.NodeSwapStatus")),
        ],
    ),
    (
        "core.v1.ObjectFieldSelector",
        &[F(1, "apiVersion", T::Str), F(2, "fieldPath", T::Str)],
    ),
    (
        "core.v1.ObjectReference",
        &[
            F(1, "kind", T::Str),
            F(2, "namespace", T::Str),
            F(3, "name", T::Str),
            F(4, "uid", T::Str),
            F(5, "apiVersion", T::Str),
            F(6, "resourceVersion", T::Str),
            F(7, "fieldPath", T::Str),
        ],
    ),
    (
        "core.v1.PersistentVolumeClaim",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("core.v1.PersistentVolumeClaimSpec")),
            F(3, "status", T::Msg("core.v1.PersistentVolumeClaimStatus")),
        ],
    ),
    (
        "core.v1.PersistentVolumeClaimCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "lastProbeTime", T::Time),
            F(4, "lastTransitionTime", T::Time),
            F(5, "reason", T::Str),
            F(6, "message", T::Str),
        ],
    ),
    (
        "core.v1.PersistentVolumeClaimSpec",
        &[
            F(1, "accessModes", T::List(&T::Str)),
            F(2, "resources", T::Msg("core.v1.VolumeResourceRequirements")),
            F(3, "volumeName", T::Str),
            F(4, "selector", T::Msg("meta.v1.LabelSelector")),
            F(5, "storageClassName", T::Str),
            F(6, "volumeMode", T::Str),
            F(7, "dataSource", T::Msg("core.v1.TypedLocalObjectReference")),
            F(8, "dataSourceRef", T::Msg("core.v1.TypedObjectReference")),
            F(9, "volumeAttributesClassName", T::Str),
        ],
    ),
    (
        "core.v1.PersistentVolumeClaimStatus",
        &[
            F(1, "phase", T::Str),
            F(2, "accessModes", T::List(&T::Str)),
            F(3, "capacity", T::Map(&T::Quantity)),
            F(
                4,
                "conditions",
                T::List(&T::Msg("core.v1.PersistentVolumeClaimCondition")),
            ),
            F(5, "allocatedResources", T::Map(&T::Quantity)),
            F(7, "allocatedResourceStatuses", T::Map(&T::Str)),
            F(8, "currentVolumeAttributesClassName", T::Str),
            F(
                9,
                "modifyVolumeStatus",
                T::Msg("core.v1.ModifyVolumeStatus"),
            ),
            F(10, "healthStatus", T::Msg("core.v1.VolumeHealthStatus")),
        ],
    ),
    (
        "core.v1.PersistentVolumeClaimTemplate",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("core.v1.PersistentVolumeClaimSpec")),
        ],
    ),
    (
        "core.v1.PersistentVolumeClaimVolumeSource",
        &[F(1, "claimName", T::Str), F(2, "readOnly", T::Bool)],
    ),
    (
        "core.v1.PhotonPersistentDiskVolumeSource",
        &[F(1, "pdID", T::Str), F(2, "fsType", T::Str)],
    ),
    (
        "core.v1.Pod",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("core.v1.PodSpec")),
            F(3, "status", T::Msg("core.v1.PodStatus")),
        ],
    ),
    (
        "core.v1.PodAffinity",
        &[
            F(
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                T::List(&T::Msg("core.v1.PodAffinityTerm")),
            ),
            F(
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                T::List(&T::Msg("core.v1.WeightedPodAffinityTerm")),
            ),
        ],
    ),
    (
        "core.v1.PodAffinityTerm",
        &[
            F(1, "labelSelector", T::Msg("meta.v1.LabelSelector")),
            F(2, "namespaces", T::List(&T::Str)),
            F(3, "topologyKey", T::Str),
            F(4, "namespaceSelector", T::Msg("meta.v1.LabelSelector")),
            F(5, "matchLabelKeys", T::List(&T::Str)),
            F(6, "mismatchLabelKeys", T::List(&T::Str)),
        ],
    ),
    (
        "core.v1.PodAntiAffinity",
        &[
            F(
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                T::List(&T::Msg("core.v1.PodAffinityTerm")),
            ),
            F(
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                T::List(&T::Msg("core.v1.WeightedPodAffinityTerm")),
            ),
        ],
    ),
    (
        "core.v1.PodCertificateProjection",
        &[
            F(1, "signerName", T::Str),
            F(2, "keyType", T::Str),
            F(3, "maxExpirationSeconds", T::Int),
            F(4, "credentialBundlePath", T::Str),
            F(5, "keyPath", T::Str),
            F(6, "certificateChainPath", T::Str),
            F(7, "userAnnotations", T::Map(&T::Str)),
            F(8, "user", T::Int),
        ],
    ),
    (
        "core.v1.PodCondition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "lastProbeTime", T::Time),
            F(4, "lastTransitionTime", T::Time),
            F(5, "reason", T::Str),
            F(6, "message", T::Str),
            F(7, "observedGeneration", T::Int),
        ],
    ),
    (
        "core.v1.PodDNSConfig",
        &[
            F(1, "nameservers", T::List(&T::Str)),
            F(2, "searches", T::List(&T::Str)),
            F(3, "options", T::List(&T::Msg("core.v1.PodDNSConfigOption"))),
        ],
    ),
    (
        "core.v1.PodDNSConfigOption",
        &[F(1, "name", T::Str), F(2, "value", T::Str)],
    ),
    (
        "core.v1.PodExtendedResourceClaimStatus",
        &[
            F(
                1,
                "requestMappings",
                T::List(&T::Msg("core.v1.ContainerExtendedResourceRequest")),
            ),
            F(2, "resourceClaimName", T::Str),
        ],
    ),
    ("core.v1.PodIP", &[F(1, "ip", T::Str)]),
    ("core.v1.PodOS", &[F(1, "name", T::Str)]),
    ("core.v1.PodReadinessGate", &[F(1, "conditionType", T::Str)]),
    (
        "core.v1.PodResourceClaim",
        &[
            F(1, "name", T::Str),
            F(3, "resourceClaimName", T::Str),
            F(4, "resourceClaimTemplateName", T::Str),
        ],
    ),
    (
        "core.v1.PodResourceClaimStatus",
        &[F(1, "name", T::Str), F(2, "resourceClaimName", T::Str)],
    ),
    ("core.v1.PodSchedulingGate", &[F(1, "name", T::Str)]),
    (
        "core.v1.PodSchedulingGroup",
        &[F(1, "podGroupName", T::Str)],
    ),
    (
        "core.v1.PodSecurityContext",
        &[
            F(1, "seLinuxOptions", T::Msg("core.v1.SELinuxOptions")),
            F(2, "runAsUser", T::Int),
            F(3, "runAsNonRoot", T::Bool),
            F(4, "supplementalGroups", T::List(&T::Int)),
            F(5, "fsGroup", T::Int),
            F(6, "runAsGroup", T::Int),
            F(7, "sysctls", T::List(&T::Msg("core.v1.Sysctl"))),
            F(
                8,
                "windowsOptions",
                T::Msg("core.v1.WindowsSecurityContextOptions"),
            ),
            F(9, "fsGroupChangePolicy", T::Str),
            F(10, "seccompProfile", T::Msg("core.v1.SeccompProfile")),
            F(11, "appArmorProfile", T::Msg("core.v1.AppArmorProfile")),
            F(12, "supplementalGroupsPolicy", T::Str),
            F(13, "seLinuxChangePolicy", T::Str),
        ],
    ),
    (
        "core.v1.PodSpec",
        &[
            F(1, "volumes", T::List(&T::Msg("core.v1.Volume"))),
            F(2, "containers", T::List(&T::Msg("core.v1.Container"))),
            F(3, "restartPolicy", T::Str),
            F(4, "terminationGracePeriodSeconds", T::Int),
            F(5, "activeDeadlineSeconds", T::Int),
            F(6, "dnsPolicy", T::Str),
            F(7, "nodeSelector", T::Map(&T::Str)),
            F(8, "serviceAccountName", T::Str),
            F(9, "serviceAccount", T::Str),
            F(10, "nodeName", T::Str),
            F(11, "hostNetwork", T::Bool),
            F(12, "hostPID", T::Bool),
            F(13, "hostIPC", T::Bool),
            F(14, "securityContext", T::Msg("core.v1.PodSecurityContext")),
            F(
                15,
                "imagePullSecrets",
                T::List(&T::Msg("core.v1.LocalObjectReference")),
            ),
            F(16, "hostname", T::Str),
            F(17, "subdomain", T::Str),
            F(18, "affinity", T::Msg("core.v1.Affinity")),
            F(19, "schedulerName", T::Str),
            F(20, "initContainers", T::List(&T::Msg("core.v1.Container"))),
            F(21, "automountServiceAccountToken", T::Bool),
            F(22, "tolerations", T::List(&T::Msg("core.v1.Toleration"))),
            F(23, "hostAliases", T::List(&T::Msg("core.v1.HostAlias"))),
            F(24, "priorityClassName", T::Str),
            F(25, "priority", T::Int),
            F(26, "dnsConfig", T::Msg("core.v1.PodDNSConfig")),
            F(27, "shareProcessNamespace", T::Bool),
            F(
                28,
                "readinessGates",
                T::List(&T::Msg("core.v1.PodReadinessGate")),
            ),
            F(29, "runtimeClassName", T::Str),
            F(30, "enableServiceLinks", T::Bool),
            F(31, "preemptionPolicy", T::Str),
            F(32, "overhead", T::Map(&T::Quantity)),
            F(
                33,
                "topologySpreadConstraints",
                T::List(&T::Msg("core.v1.TopologySpreadConstraint")),
            ),
            F(
                34,
                "ephemeralContainers",
                T::List(&T::Msg("core.v1.EphemeralContainer")),
            ),
            F(35, "setHostnameAsFQDN", T::Bool),
            F(36, "os", T::Msg("core.v1.PodOS")),
            F(37, "hostUsers", T::Bool),
            F(
                38,
                "schedulingGates",
                T::List(&T::Msg("core.v1.PodSchedulingGate")),
            ),
            F(
                39,
                "resourceClaims",
                T::List(&T::Msg("core.v1.PodResourceClaim")),
            ),
            F(40, "resources", T::Msg("core.v1.ResourceRequirements")),
            F(41, "hostnameOverride", T::Str),
            F(43, "schedulingGroup", T::Msg("core.v1.PodSchedulingGroup")),
            F(
                44,
                "evictionResponders",
                T::List(&T::Msg("core.v1.EvictionResponder")),
            ),
        ],
    ),
    (
        "core.v1.PodStatus",
        &[
            F(1, "phase", T::Str),
            F(2, "conditions", T::List(&T::Msg("core.v1.PodCondition"))),
            F(3, "message", T::Str),
            F(4, "reason", T::Str),
            F(5, "hostIP", T::Str),
            F(6, "podIP", T::Str),
            F(7, "startTime", T::Time),
            F(
                8,
                "containerStatuses",
                T::List(&T::Msg("core.v1.ContainerStatus")),
            ),
            F(9, "qosClass", T::Str),
            F(
                10,
                "initContainerStatuses",
                T::List(&T::Msg("core.v1.ContainerStatus")),
            ),
            F(11, "nominatedNodeName", T::Str),
            F(12, "podIPs", T::List(&T::Msg("core.v1.PodIP"))),
            F(
                13,
                "ephemeralContainerStatuses",
                T::List(&T::Msg("core.v1.ContainerStatus")),
            ),
            F(14, "resize", T::Str),
            F(
                15,
                "resourceClaimStatuses",
                T::List(&T::Msg("core.v1.PodResourceClaimStatus")),
            ),
            F(16, "hostIPs", T::List(&T::Msg("core.v1.HostIP"))),
            F(17, "observedGeneration", T::Int),
            F(
                18,
                "extendedResourceClaimStatus",
                T::Msg("core.v1.PodExtendedResourceClaimStatus"),
            ),
            F(19, "allocatedResources", T::Map(&T::Quantity)),
            F(20, "resources", T::Msg("core.v1.ResourceRequirements")),
            F(
                21,
                "nodeAllocatableResourceClaimStatuses",
                T::List(&T::Msg("core.v1.NodeAllocatableResourceClaimStatus")),
            ),
            F(
                22,
                "volumeHealth",
                T::List(&T::Msg("core.v1.PodVolumeHealth")),
            ),
        ],
    ),
    (
        "core.v1.PodTemplateSpec",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("core.v1.PodSpec")),
        ],
    ),
    (
        "core.v1.PodVolumeHealth",
        &[
            F(1, "name", T::Str),
            F(
                2,
                "healthConditions",
                T::List(&T::Msg("core.v1.VolumeHealthCondition")),
            ),
            F(3, "lastTransitionTime", T::Time),
        ],
    ),
    (
        "core.v1.PortStatus",
        &[
            F(1, "port", T::Int),
            F(2, "protocol", T::Str),
            F(3, "error", T::Str),
        ],
    ),
    (
        "core.v1.PortworxVolumeSource",
        &[
            F(1, "volumeID", T::Str),
            F(2, "fsType", T::Str),
            F(3, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.PreferredSchedulingTerm",
        &[
            F(1, "weight", T::Int),
            F(2, "preference", T::Msg("core.v1.NodeSelectorTerm")),
        ],
    ),
    (
        "core.v1.Probe",
        &[
            F(1, "handler", T::Msg("core.v1.ProbeHandler")),
            F(2, "initialDelaySeconds", T::Int),
            F(3, "timeoutSeconds", T::Int),
            F(4, "periodSeconds", T::Int),
            F(5, "successThreshold", T::Int),
            F(6, "failureThreshold", T::Int),
            F(7, "terminationGracePeriodSeconds", T::Int),
        ],
    ),
    (
        "core.v1.ProbeHandler",
        &[
            F(1, "exec", T::Msg("core.v1.ExecAction")),
            F(2, "httpGet", T::Msg("core.v1.HTTPGetAction")),
            F(3, "tcpSocket", T::Msg("core.v1.TCPSocketAction")),
            F(4, "grpc", T::Msg("core.v1.GRPCAction")),
        ],
    ),
    (
        "core.v1.ProjectedVolumeSource",
        &[
            F(1, "sources", T::List(&T::Msg("core.v1.VolumeProjection"))),
            F(2, "defaultMode", T::Int),
            F(3, "defaultUser", T::Int),
        ],
    ),
    (
        "core.v1.QuobyteVolumeSource",
        &[
            F(1, "registry", T::Str),
            F(2, "volume", T::Str),
            F(3, "readOnly", T::Bool),
            F(4, "user", T::Str),
            F(5, "group", T::Str),
            F(6, "tenant", T::Str),
        ],
    ),
    (
        "core.v1.RBDVolumeSource",
        &[
            F(1, "monitors", T::List(&T::Str)),
            F(2, "image", T::Str),
            F(3, "fsType", T::Str),
            F(4, "pool", T::Str),
            F(5, "user", T::Str),
            F(6, "keyring", T::Str),
            F(7, "secretRef", T::Msg("core.v1.LocalObjectReference")),
            F(8, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.ResourceClaim",
        &[F(1, "name", T::Str), F(2, "request", T::Str)],
    ),
    (
        "core.v1.ResourceFieldSelector",
        &[
            F(1, "containerName", T::Str),
            F(2, "resource", T::Str),
            F(3, "divisor", T::Quantity),
        ],
    ),
    (
        "core.v1.ResourceHealth",
        &[
            F(1, "resourceID", T::Str),
            F(2, "health", T::Str),
            F(6, "message", T::Str),
        ],
    ),
    (
        "core.v1.ResourceRequirements",
        &[
            F(1, "limits", T::Map(&T::Quantity)),
            F(2, "requests", T::Map(&T::Quantity)),
            F(3, "claims", T::List(&T::Msg("core.v1.ResourceClaim"))),
        ],
    ),
    (
        "core.v1.ResourceStatus",
        &[
            F(1, "name", T::Str),
            F(2, "resources", T::List(&T::Msg("core.v1.ResourceHealth"))),
        ],
    ),
    (
        "core.v1.SELinuxOptions",
        &[
            F(1, "user", T::Str),
            F(2, "role", T::Str),
            F(3, "type", T::Str),
            F(4, "level", T::Str),
        ],
    ),
    (
        "core.v1.ScaleIOVolumeSource",
        &[
            F(1, "gateway", T::Str),
            F(2, "system", T::Str),
            F(3, "secretRef", T::Msg("core.v1.LocalObjectReference")),
            F(4, "sslEnabled", T::Bool),
            F(5, "protectionDomain", T::Str),
            F(6, "storagePool", T::Str),
            F(7, "storageMode", T::Str),
            F(8, "volumeName", T::Str),
            F(9, "fsType", T::Str),
            F(10, "readOnly", T::Bool),
        ],
    ),
    (
        "core.v1.SeccompProfile",
        &[F(1, "type", T::Str), F(2, "localhostProfile", T::Str)],
    ),
    (
        "core.v1.Secret",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "data", T::Map(&T::Bytes)),
            F(3, "type", T::Str),
            F(4, "stringData", T::Map(&T::Str)),
            F(5, "immutable", T::Bool),
        ],
    ),
    (
        "core.v1.SecretEnvSource",
        &[
            F(
                1,
                "localObjectReference",
                T::Msg("core.v1.LocalObjectReference"),
            ),
            F(2, "optional", T::Bool),
        ],
    ),
    (
        "core.v1.SecretKeySelector",
        &[
            F(
                1,
                "localObjectReference",
                T::Msg("core.v1.LocalObjectReference"),
            ),
            F(2, "key", T::Str),
            F(3, "optional", T::Bool),
        ],
    ),
    (
        "core.v1.SecretProjection",
        &[
            F(
                1,
                "localObjectReference",
                T::Msg("core.v1.LocalObjectReference"),
            ),
            F(2, "items", T::List(&T::Msg("core.v1.KeyToPath"))),
            F(4, "optional", T::Bool),
        ],
    ),
    (
        "core.v1.SecretVolumeSource",
        &[
            F(1, "secretName", T::Str),
            F(2, "items", T::List(&T::Msg("core.v1.KeyToPath"))),
            F(3, "defaultMode", T::Int),
            F(4, "optional", T::Bool),
            F(5, "defaultUser", T::Int),
        ],
    ),
    (
        "core.v1.SecurityContext",
        &[
            F(1, "capabilities", T::Msg("core.v1.Capabilities")),
            F(2, "privileged", T::Bool),
            F(3, "seLinuxOptions", T::Msg("core.v1.SELinuxOptions")),
            F(4, "runAsUser", T::Int),
            F(5, "runAsNonRoot", T::Bool),
            F(6, "readOnlyRootFilesystem", T::Bool),
            F(7, "allowPrivilegeEscalation", T::Bool),
            F(8, "runAsGroup", T::Int),
            F(9, "procMount", T::Str),
            F(
                10,
                "windowsOptions",
                T::Msg("core.v1.WindowsSecurityContextOptions"),
            ),
            F(11, "seccompProfile", T::Msg("core.v1.SeccompProfile")),
            F(12, "appArmorProfile", T::Msg("core.v1.AppArmorProfile")),
        ],
    ),
    (
        "core.v1.Service",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "spec", T::Msg("core.v1.ServiceSpec")),
            F(3, "status", T::Msg("core.v1.ServiceStatus")),
        ],
    ),
    (
        "core.v1.ServiceAccount",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "secrets", T::List(&T::Msg("core.v1.ObjectReference"))),
            F(
                3,
                "imagePullSecrets",
                T::List(&T::Msg("core.v1.LocalObjectReference")),
            ),
            F(4, "automountServiceAccountToken", T::Bool),
        ],
    ),
    (
        "core.v1.ServiceAccountTokenProjection",
        &[
            F(1, "audience", T::Str),
            F(2, "expirationSeconds", T::Int),
            F(3, "path", T::Str),
            F(4, "user", T::Int),
        ],
    ),
    (
        "core.v1.ServicePort",
        &[
            F(1, "name", T::Str),
            F(2, "protocol", T::Str),
            F(3, "port", T::Int),
            F(4, "targetPort", T::IntOrString),
            F(5, "nodePort", T::Int),
            F(6, "appProtocol", T::Str),
        ],
    ),
    (
        "core.v1.ServiceSpec",
        &[
            F(1, "ports", T::List(&T::Msg("core.v1.ServicePort"))),
            F(2, "selector", T::Map(&T::Str)),
            F(3, "clusterIP", T::Str),
            F(4, "type", T::Str),
            F(5, "externalIPs", T::List(&T::Str)),
            F(7, "sessionAffinity", T::Str),
            F(8, "loadBalancerIP", T::Str),
            F(9, "loadBalancerSourceRanges", T::List(&T::Str)),
            F(10, "externalName", T::Str),
            F(11, "externalTrafficPolicy", T::Str),
            F(12, "healthCheckNodePort", T::Int),
            F(13, "publishNotReadyAddresses", T::Bool),
            F(
                14,
                "sessionAffinityConfig",
                T::Msg("core.v1.SessionAffinityConfig"),
            ),
            F(17, "ipFamilyPolicy", T::Str),
            F(18, "clusterIPs", T::List(&T::Str)),
            F(19, "ipFamilies", T::List(&T::Str)),
            F(20, "allocateLoadBalancerNodePorts", T::Bool),
            F(21, "loadBalancerClass", T::Str),
            F(22, "internalTrafficPolicy", T::Str),
            F(23, "trafficDistribution", T::Str),
        ],
    ),
    (
        "core.v1.ServiceStatus",
        &[
            F(1, "loadBalancer", T::Msg("core.v1.LoadBalancerStatus")),
            F(2, "conditions", T::List(&T::Msg("meta.v1.Condition"))),
        ],
    ),
    (
        "core.v1.SessionAffinityConfig",
        &[F(1, "clientIP", T::Msg("core.v1.ClientIPConfig"))],
    ),
    ("core.v1.SleepAction", &[F(1, "seconds", T::Int)]),
    (
        "core.v1.StorageOSVolumeSource",
        &[
            F(1, "volumeName", T::Str),
            F(2, "volumeNamespace", T::Str),
            F(3, "fsType", T::Str),
            F(4, "readOnly", T::Bool),
            F(5, "secretRef", T::Msg("core.v1.LocalObjectReference")),
        ],
    ),
    (
        "core.v1.Sysctl",
        &[F(1, "name", T::Str), F(2, "value", T::Str)],
    ),
    (
        "core.v1.TCPSocketAction",
        &[F(1, "port", T::IntOrString), F(2, "host", T::Str)],
    ),
    (
        "core.v1.Taint",
        &[
            F(1, "key", T::Str),
            F(2, "value", T::Str),
            F(3, "effect", T::Str),
            F(4, "timeAdded", T::Time),
        ],
    ),
    (
        "core.v1.Toleration",
        &[
            F(1, "key", T::Str),
            F(2, "operator", T::Str),
            F(3, "value", T::Str),
            F(4, "effect", T::Str),
            F(5, "tolerationSeconds", T::Int),
        ],
    ),
    (
        "core.v1.TopologySpreadConstraint",
        &[
            F(1, "maxSkew", T::Int),
            F(2, "topologyKey", T::Str),
            F(3, "whenUnsatisfiable", T::Str),
            F(4, "labelSelector", T::Msg("meta.v1.LabelSelector")),
            F(5, "minDomains", T::Int),
            F(6, "nodeAffinityPolicy", T::Str),
            F(7, "nodeTaintsPolicy", T::Str),
            F(8, "matchLabelKeys", T::List(&T::Str)),
        ],
    ),
    (
        "core.v1.TypedLocalObjectReference",
        &[
            F(1, "apiGroup", T::Str),
            F(2, "kind", T::Str),
            F(3, "name", T::Str),
        ],
    ),
    (
        "core.v1.TypedObjectReference",
        &[
            F(1, "apiGroup", T::Str),
            F(2, "kind", T::Str),
            F(3, "name", T::Str),
            F(4, "namespace", T::Str),
        ],
    ),
    (
        "core.v1.Volume",
        &[
            F(1, "name", T::Str),
            F(2, "volumeSource", T::Msg("core.v1.VolumeSource")),
        ],
    ),
    (
        "core.v1.VolumeDevice",
        &[F(1, "name", T::Str), F(2, "devicePath", T::Str)],
    ),
    (
        "core.v1.VolumeHealthCondition",
        &[
            F(1, "status", T::Str),
            F(2, "reason", T::Str),
            F(3, "message", T::Str),
        ],
    ),
    (
        "core.v1.VolumeHealthStatus",
        &[
            F(
                1,
                "healthConditions",
                T::List(&T::Msg("core.v1.VolumeHealthCondition")),
            ),
            F(2, "lastTransitionTime", T::Time),
        ],
    ),
    (
        "core.v1.VolumeMount",
        &[
            F(1, "name", T::Str),
            F(2, "readOnly", T::Bool),
            F(3, "mountPath", T::Str),
            F(4, "subPath", T::Str),
            F(5, "mountPropagation", T::Str),
            F(6, "subPathExpr", T::Str),
            F(7, "recursiveReadOnly", T::Str),
            F(8, "bindMountOptions", T::List(&T::Str)),
        ],
    ),
    (
        "core.v1.VolumeMountStatus",
        &[
            F(1, "name", T::Str),
            F(2, "mountPath", T::Str),
            F(3, "readOnly", T::Bool),
            F(4, "recursiveReadOnly", T::Str),
            F(5, "volumeStatus", T::Msg("core.v1.VolumeStatus")),
        ],
    ),
    (
        "core.v1.VolumeProjection",
        &[
            F(1, "secret", T::Msg("core.v1.SecretProjection")),
            F(2, "downwardAPI", T::Msg("core.v1.DownwardAPIProjection")),
            F(3, "configMap", T::Msg("core.v1.ConfigMapProjection")),
            F(
                4,
                "serviceAccountToken",
                T::Msg("core.v1.ServiceAccountTokenProjection"),
            ),
            F(
                5,
                "clusterTrustBundle",
                T::Msg("core.v1.ClusterTrustBundleProjection"),
            ),
            F(
                6,
                "podCertificate",
                T::Msg("core.v1.PodCertificateProjection"),
            ),
        ],
    ),
    (
        "core.v1.VolumeResourceRequirements",
        &[
            F(1, "limits", T::Map(&T::Quantity)),
            F(2, "requests", T::Map(&T::Quantity)),
        ],
    ),
    (
        "core.v1.VolumeSource",
        &[
            F(1, "hostPath", T::Msg("core.v1.HostPathVolumeSource")),
            F(2, "emptyDir", T::Msg("core.v1.EmptyDirVolumeSource")),
            F(
                3,
                "gcePersistentDisk",
                T::Msg("core.v1.GCEPersistentDiskVolumeSource"),
            ),
            F(
                4,
                "awsElasticBlockStore",
                T::Msg("core.v1.AWSElasticBlockStoreVolumeSource"),
            ),
            F(5, "gitRepo", T::Msg("core.v1.GitRepoVolumeSource")),
            F(6, "secret", T::Msg("core.v1.SecretVolumeSource")),
            F(7, "nfs", T::Msg("core.v1.NFSVolumeSource")),
            F(8, "iscsi", T::Msg("core.v1.ISCSIVolumeSource")),
            F(9, "glusterfs", T::Msg("core.v1.GlusterfsVolumeSource")),
            F(
                10,
                "persistentVolumeClaim",
                T::Msg("core.v1.PersistentVolumeClaimVolumeSource"),
            ),
            F(11, "rbd", T::Msg("core.v1.RBDVolumeSource")),
            F(12, "flexVolume", T::Msg("core.v1.FlexVolumeSource")),
            F(13, "cinder", T::Msg("core.v1.CinderVolumeSource")),
            F(14, "cephfs", T::Msg("core.v1.CephFSVolumeSource")),
            F(15, "flocker", T::Msg("core.v1.FlockerVolumeSource")),
            F(16, "downwardAPI", T::Msg("core.v1.DownwardAPIVolumeSource")),
            F(17, "fc", T::Msg("core.v1.FCVolumeSource")),
            F(18, "azureFile", T::Msg("core.v1.AzureFileVolumeSource")),
            F(19, "configMap", T::Msg("core.v1.ConfigMapVolumeSource")),
            F(
                20,
                "vsphereVolume",
                T::Msg("core.v1.VsphereVirtualDiskVolumeSource"),
            ),
            F(21, "quobyte", T::Msg("core.v1.QuobyteVolumeSource")),
            F(22, "azureDisk", T::Msg("core.v1.AzureDiskVolumeSource")),
            F(
                23,
                "photonPersistentDisk",
                T::Msg("core.v1.PhotonPersistentDiskVolumeSource"),
            ),
            F(24, "portworxVolume", T::Msg("core.v1.PortworxVolumeSource")),
            F(25, "scaleIO", T::Msg("core.v1.ScaleIOVolumeSource")),
            F(26, "projected", T::Msg("core.v1.ProjectedVolumeSource")),
            F(27, "storageos", T::Msg("core.v1.StorageOSVolumeSource")),
            F(28, "csi", T::Msg("core.v1.CSIVolumeSource")),
            F(29, "ephemeral", T::Msg("core.v1.EphemeralVolumeSource")),
            F(30, "image", T::Msg("core.v1.ImageVolumeSource")),
        ],
    ),
    (
        "core.v1.VolumeStatus",
        &[F(1, "image", T::Msg("core.v1.ImageVolumeStatus"))],
    ),
    (
        "core.v1.VsphereVirtualDiskVolumeSource",
        &[
            F(1, "volumePath", T::Str),
            F(2, "fsType", T::Str),
            F(3, "storagePolicyName", T::Str),
            F(4, "storagePolicyID", T::Str),
        ],
    ),
    (
        "core.v1.WeightedPodAffinityTerm",
        &[
            F(1, "weight", T::Int),
            F(2, "podAffinityTerm", T::Msg("core.v1.PodAffinityTerm")),
        ],
    ),
    (
        "core.v1.WindowsSecurityContextOptions",
        &[
            F(1, "gmsaCredentialSpecName", T::Str),
            F(2, "gmsaCredentialSpec", T::Str),
            F(3, "runAsUserName", T::Str),
            F(4, "hostProcess", T::Bool),
        ],
    ),
    (
        "discovery.v1.Endpoint",
        &[
            F(1, "addresses", T::List(&T::Str)),
            F(2, "conditions", T::Msg("discovery.v1.EndpointConditions")),
            F(3, "hostname", T::Str),
            F(4, "targetRef", T::Msg("core.v1.ObjectReference")),
            F(5, "deprecatedTopology", T::Map(&T::Str)),
            F(6, "nodeName", T::Str),
            F(7, "zone", T::Str),
            F(8, "hints", T::Msg("discovery.v1.EndpointHints")),
        ],
    ),
    (
        "discovery.v1.EndpointConditions",
        &[
            F(1, "ready", T::Bool),
            F(2, "serving", T::Bool),
            F(3, "terminating", T::Bool),
        ],
    ),
    (
        "discovery.v1.EndpointHints",
        &[
            F(1, "forZones", T::List(&T::Msg("discovery.v1.ForZone"))),
            F(2, "forNodes", T::List(&T::Msg("discovery.v1.ForNode"))),
        ],
    ),
    (
        "discovery.v1.EndpointPort",
        &[
            F(1, "name", T::Str),
            F(2, "protocol", T::Str),
            F(3, "port", T::Int),
            F(4, "appProtocol", T::Str),
        ],
    ),
    (
        "discovery.v1.EndpointSlice",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "endpoints", T::List(&T::Msg("discovery.v1.Endpoint"))),
            F(3, "ports", T::List(&T::Msg("discovery.v1.EndpointPort"))),
            F(4, "addressType", T::Str),
        ],
    ),
    ("discovery.v1.ForNode", &[F(1, "name", T::Str)]),
    ("discovery.v1.ForZone", &[F(1, "name", T::Str)]),
    (
        "meta.v1.Condition",
        &[
            F(1, "type", T::Str),
            F(2, "status", T::Str),
            F(3, "observedGeneration", T::Int),
            F(4, "lastTransitionTime", T::Time),
            F(5, "reason", T::Str),
            F(6, "message", T::Str),
        ],
    ),
    (
        "meta.v1.DeleteOptions",
        &[
            F(1, "gracePeriodSeconds", T::Int),
            F(2, "preconditions", T::Msg("meta.v1.Preconditions")),
            F(3, "orphanDependents", T::Bool),
            F(4, "propagationPolicy", T::Str),
            F(5, "dryRun", T::List(&T::Str)),
            F(
                6,
                "ignoreStoreReadErrorWithClusterBreakingPotential",
                T::Bool,
            ),
        ],
    ),
    (
        "meta.v1.LabelSelector",
        &[
            F(1, "matchLabels", T::Map(&T::Str)),
            F(
                2,
                "matchExpressions",
                T::List(&T::Msg("meta.v1.LabelSelectorRequirement")),
            ),
        ],
    ),
    (
        "meta.v1.FieldSelectorRequirement",
        &[
            F(1, "key", T::Str),
            F(2, "operator", T::Str),
            F(3, "values", T::List(&T::Str)),
        ],
    ),
    (
        "meta.v1.LabelSelectorRequirement",
        &[
            F(1, "key", T::Str),
            F(2, "operator", T::Str),
            F(3, "values", T::List(&T::Str)),
        ],
    ),
    (
        "meta.v1.ManagedFieldsEntry",
        &[
            F(1, "manager", T::Str),
            F(2, "operation", T::Str),
            F(3, "apiVersion", T::Str),
            F(4, "time", T::Time),
            F(6, "fieldsType", T::Str),
            F(7, "fieldsV1", T::FieldsV1),
            F(8, "subresource", T::Str),
        ],
    ),
    (
        "meta.v1.ObjectMeta",
        &[
            F(1, "name", T::Str),
            F(2, "generateName", T::Str),
            F(3, "namespace", T::Str),
            F(4, "selfLink", T::Str),
            F(5, "uid", T::Str),
            F(6, "resourceVersion", T::Str),
            F(7, "generation", T::Int),
            F(8, "creationTimestamp", T::Time),
            F(9, "deletionTimestamp", T::Time),
            F(10, "deletionGracePeriodSeconds", T::Int),
            F(11, "labels", T::Map(&T::Str)),
            F(12, "annotations", T::Map(&T::Str)),
            F(
                13,
                "ownerReferences",
                T::List(&T::Msg("meta.v1.OwnerReference")),
            ),
            F(14, "finalizers", T::List(&T::Str)),
            F(
                17,
                "managedFields",
                T::List(&T::Msg("meta.v1.ManagedFieldsEntry")),
            ),
        ],
    ),
    (
        "meta.v1.OwnerReference",
        &[
            F(1, "kind", T::Str),
            F(3, "name", T::Str),
            F(4, "uid", T::Str),
            F(5, "apiVersion", T::Str),
            F(6, "controller", T::Bool),
            F(7, "blockOwnerDeletion", T::Bool),
        ],
    ),
    (
        "meta.v1.Preconditions",
        &[F(1, "uid", T::Str), F(2, "resourceVersion", T::Str)],
    ),
    (
        "policy.v1.Eviction",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "deleteOptions", T::Msg("meta.v1.DeleteOptions")),
        ],
    ),
    (
        "runtime.TypeMeta",
        &[F(1, "apiVersion", T::Str), F(2, "kind", T::Str)],
    ),
    (
        "runtime.Unknown",
        &[
            F(1, "typeMeta", T::Msg("runtime.TypeMeta")),
            F(2, "raw", T::Bytes),
            F(3, "contentEncoding", T::Str),
            F(4, "contentType", T::Str),
        ],
    ),
    (
        "scheduling.v1.PriorityClass",
        &[
            F(1, "metadata", T::Msg("meta.v1.ObjectMeta")),
            F(2, "value", T::Int),
            F(3, "globalDefault", T::Bool),
            F(4, "description", T::Str),
            F(5, "preemptionPolicy", T::Str),
        ],
    ),
];
