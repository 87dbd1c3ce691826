//! The HorizontalPodAutoscaler controller: every sync period
//! (`--horizontal-pod-autoscaler-sync-period`, 15 s) each HPA's target is
//! resized to what its metrics ask for, as upstream's
//! `pkg/controller/podautoscaler` does.
//!
//! reconcile(ns/name):
//! 1. read the target's `/scale` (any kind that serves it: Deployments,
//!    StatefulSets, ReplicaSets, custom resources with a scale subresource);
//!    failing that, AbleToScale=False `FailedGetScale`;
//! 2. a count outside `minReplicas..=maxReplicas` is brought inside; a
//!    target scaled to 0 by hand is left alone (ScalingActive=False
//!    `ScalingDisabled`);
//! 3. otherwise each metric proposes a count ([`replica_calculator`]) from
//!    the pods the scale's selector selects and their metrics
//!    ([`metrics`], the `metrics.k8s.io` API); the highest proposal wins. A
//!    metric that cannot be read gives a Warning event
//!    (`FailedGetResourceMetric`) and ScalingActive=False; when every metric
//!    failed, or some failed and the rest would scale down, nothing changes;
//! 4. the proposal is stabilized and rate-limited ([`normalize`]; the
//!    `behavior` field or the defaults) and kept within min/max
//!    (ScalingLimited says whether that bit);
//! 5. a different count is written to `/scale` with a `SuccessfulRescale`
//!    event (`New size: N; reason: cpu resource utilization (percentage of
//!    request) above target`), and `lastScaleTime` set;
//! 6. the status (current and desired replicas, current metrics,
//!    conditions) is written when it changed.
//!
//! As upstream, two HPAs whose targets' pods overlap both stop
//! (ScalingActive=False `AmbiguousSelector`) rather than fight.
//!
//! Only `Resource` and `ContainerResource` metrics (cpu, memory; Utilization
//! or AverageValue) are served: this cluster has no custom or external
//! metrics API, so `Pods`, `Object` and `External` metrics fail like an
//! unreachable one would upstream.

pub mod metrics;
pub mod normalize;
pub mod replica_calculator;

use std::sync::Arc;
use std::time::Duration;

use apimachinery::labels::Selector;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus,
    MetricSpec, MetricStatus, MetricTarget, MetricValueStatus, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::ApiResource;

use self::metrics::MetricsSource;
use self::normalize::Memory;
use self::replica_calculator::{Calculator, Tolerances};
use super::{Context, Started};
use crate::events::Recorder;
use crate::machinery::controller::{Action, Error, Reconciler, Result};
use crate::machinery::informer::{key_of, Store};
use crate::machinery::meta;
use crate::machinery::queue::Queue;

/// The controller's settings (upstream's flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--horizontal-pod-autoscaler-sync-period`.
    pub sync_period: Duration,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`.
    pub downscale_stabilization: Duration,
    /// `--horizontal-pod-autoscaler-tolerance`.
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`.
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`.
    pub initial_readiness_delay: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sync_period: Duration::from_secs(15),
            downscale_stabilization: Duration::from_secs(300),
            tolerance: 0.1,
            cpu_initialization_period: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
        }
    }
}

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let hpas = ctx.factory.informer::<HorizontalPodAutoscaler>();
    let pods = ctx.factory.informer::<Pod>();
    let queue = Queue::new("horizontalpodautoscaler");
    let q = Arc::clone(&queue);
    // New HPAs and spec changes are looked at at once; after that each HPA
    // comes back every sync period (its own status writes do not requeue it).
    hpas.add_handler(move |old, new| match (old, new) {
        (None, Some(h)) => q.add(key_of(&**h)),
        // HorizontalPodAutoscalers carry no generation: compare the specs.
        (Some(o), Some(h)) if o.spec != h.spec => q.add(key_of(&**h)),
        (Some(o), None) => q.add(key_of(&**o)),
        _ => {}
    });
    let c = Arc::new(HorizontalController {
        client: ctx.client.clone(),
        hpas: hpas.store(),
        pods: pods.store(),
        metrics: Arc::new(metrics::ResourceMetricsApi::new(ctx.client.clone())),
        recorder: ctx.recorder("horizontal-pod-autoscaler"),
        settings: ctx.config.hpa.clone(),
        memory: Memory::default(),
        selectors: Default::default(),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct HorizontalController {
    client: kube::Client,
    hpas: Store<HorizontalPodAutoscaler>,
    pods: Store<Pod>,
    metrics: Arc<dyn MetricsSource>,
    recorder: Recorder,
    settings: Settings,
    memory: Memory,
    /// The last selector of each HPA's target, by HPA key: two HPAs may not
    /// control the same pods.
    selectors: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

/// Sets a condition (upstream's `setCondition`: the transition time moves
/// only when the status does).
fn set_condition(
    status: &mut HorizontalPodAutoscalerStatus,
    type_: &str,
    cstatus: &str,
    reason: &str,
    message: String,
) {
    let list = status.conditions.get_or_insert_with(Vec::new);
    let i = match list.iter().position(|c| c.type_ == type_) {
        Some(i) => i,
        None => {
            list.push(HorizontalPodAutoscalerCondition {
                type_: type_.into(),
                ..Default::default()
            });
            list.len() - 1
        }
    };
    let c = &mut list[i];
    if c.status != cstatus {
        c.last_transition_time = Some(meta::now());
    }
    c.status = cstatus.into();
    c.reason = Some(reason.into());
    c.message = Some(message);
}

/// One metric's outcome.
struct Proposal {
    replicas: i32,
    name: String,
    status: MetricStatus,
}

/// A failed metric: the ScalingActive reason and the error.
struct Failure {
    reason: &'static str,
    error: String,
}

/// A quantity of milli-units, as upstream's status writes it (memory binary).
fn milli_quantity(resource: &str, milli: i64) -> Quantity {
    use apimachinery::quantity::{Format, Quantity as Q};
    let format = if resource == "memory" {
        Format::BinarySI
    } else {
        Format::DecimalSI
    };
    Quantity(Q::new(milli, -3, format).to_string())
}

impl HorizontalController {
    /// Records `selector` as the HPA's and returns the keys of the HPAs
    /// (this one included) whose selectors select any of the pods this one
    /// selects, sorted (upstream's `hpasControllingPodsUnderSelector`).
    fn hpas_controlling(&self, key: &str, ns: &str, selector: &Selector) -> Vec<String> {
        let mut known = self.selectors.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(key.to_string(), selector.to_string());
        let pods: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| selector.matches(&meta::labels(&p.metadata)))
            .collect();
        let prefix = format!("{ns}/");
        known
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, sel)| {
                Selector::parse(sel).is_ok_and(|other| {
                    pods.iter()
                        .any(|p| other.matches(&meta::labels(&p.metadata)))
                })
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The target's resource, from the built-in table or discovery.
    async fn target_resource(&self, api_version: &str, kind: &str) -> Result<ApiResource, String> {
        if let Some(r) = apimachinery::resources::find_by_kind(api_version, kind) {
            return Ok(ApiResource {
                group: r.group.into(),
                version: r.version.into(),
                api_version: r.api_version(),
                kind: r.kind.into(),
                plural: r.plural.into(),
            });
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map(|(ar, _)| ar)
            .map_err(|e| format!("no matches for kind \"{kind}\" in group \"{group}\": {e}"))
    }

    /// One Resource or ContainerResource metric's proposal.
    async fn resource_proposal(
        &self,
        hpa: &HorizontalPodAutoscaler,
        current: i32,
        selector: &str,
        resource: &str,
        container: &str,
        target: &MetricTarget,
    ) -> Result<Proposal, String> {
        let ns = hpa.metadata.namespace.clone().unwrap_or_default();
        let items = self
            .metrics
            .pod_metrics(&ns, selector)
            .await
            .map_err(|e| format!("unable to fetch metrics from resource metrics API: {e}"))
            .and_then(|items| {
                if items.is_empty() {
                    Err("no metrics returned from resource metrics API".to_string())
                } else {
                    Ok(items)
                }
            });
        let what = if target.average_value.is_some() {
            "usage"
        } else {
            "utilization"
        };
        let items = items.map_err(|e| {
            format!("failed to get {resource} {what}: unable to get metrics for resource {resource}: {e}")
        })?;
        let metric = metrics::resource_metric(&items, resource, container);
        let parsed = Selector::parse(selector).map_err(|e| e.to_string())?;
        let pods: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(&ns)
            .into_iter()
            .filter(|p| parsed.matches(&meta::labels(&p.metadata)))
            .collect();
        let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
        let calc = Calculator {
            cpu_initialization_period: self.settings.cpu_initialization_period,
            delay_of_initial_readiness_status: self.settings.initial_readiness_delay,
            now_ms: meta::now_millis(),
        };
        let tolerances = Tolerances::both(self.settings.tolerance);
        let container_kind = if container.is_empty() {
            ""
        } else {
            " container"
        };
        if let Some(value) = &target.average_value {
            let target_milli = apimachinery::quantity::milli_value(&value.0)
                .map_err(|e| format!("invalid average value target: {e}"))?;
            let (replicas, usage) = replica_calculator::raw_resource_replicas(
                current,
                target_milli,
                resource,
                tolerances,
                &pods,
                metric,
                &calc,
            )
            .map_err(|e| format!("failed to get {resource} usage: {e}"))?;
            return Ok(Proposal {
                replicas,
                name: format!("{resource}{container_kind} resource"),
                status: metric_status(resource, container, None, milli_quantity(resource, usage)),
            });
        }
        let Some(utilization) = target.average_utilization else {
            return Err("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into());
        };
        let (replicas, percent, raw) = replica_calculator::resource_replicas(
            current,
            utilization,
            resource,
            container,
            tolerances,
            &pods,
            metric,
            &calc,
        )
        .map_err(|e| format!("failed to get {resource} utilization: {e}"))?;
        Ok(Proposal {
            replicas,
            name: format!(
                "{resource}{container_kind} resource utilization (percentage of request)"
            ),
            status: metric_status(
                resource,
                container,
                Some(percent),
                milli_quantity(resource, raw),
            ),
        })
    }

    async fn proposal(
        &self,
        hpa: &HorizontalPodAutoscaler,
        current: i32,
        selector: &str,
        spec: &MetricSpec,
    ) -> Result<Proposal, Failure> {
        match spec.type_.as_str() {
            "Resource" => {
                let Some(r) = &spec.resource else {
                    return Err(Failure {
                        reason: "FailedGetResourceMetric",
                        error: "invalid resource metric source: no resource given".into(),
                    });
                };
                self.resource_proposal(hpa, current, selector, &r.name, "", &r.target)
                    .await
                    .map_err(|error| Failure {
                        reason: "FailedGetResourceMetric",
                        error,
                    })
            }
            "ContainerResource" => {
                let Some(r) = &spec.container_resource else {
                    return Err(Failure {
                        reason: "FailedGetContainerResourceMetric",
                        error: "invalid container resource metric source: no resource given".into(),
                    });
                };
                self.resource_proposal(hpa, current, selector, &r.name, &r.container, &r.target)
                    .await
                    .map_err(|error| Failure {
                        reason: "FailedGetContainerResourceMetric",
                        error,
                    })
            }
            other => {
                let reason = match other {
                    "Pods" => "FailedGetPodsMetric",
                    "Object" => "FailedGetObjectMetric",
                    "External" => "FailedGetExternalMetric",
                    _ => "InvalidMetricSourceType",
                };
                Err(Failure {
                    reason,
                    error: format!(
                        "unable to get metric: the {other} metric source type needs a custom or external metrics API, which this cluster does not serve"
                    ),
                })
            }
        }
    }

    /// Writes the status when it changed (upstream's `updateStatusIfNeeded`).
    async fn write_status(
        &self,
        hpa: &HorizontalPodAutoscaler,
        status: HorizontalPodAutoscalerStatus,
    ) -> Result<()> {
        if hpa.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut updated = hpa.clone();
        updated.status = Some(status);
        let ns = hpa.metadata.namespace.clone().unwrap_or_default();
        let name = hpa.metadata.name.clone().unwrap_or_default();
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            self.recorder
                .event(hpa, "Warning", "FailedUpdateStatus", e.to_string());
            return Err(Error::Api {
                context: format!("failed to update status for {name}"),
                source: e,
            });
        }
        Ok(())
    }
}

fn metric_status(
    resource: &str,
    container: &str,
    utilization: Option<i32>,
    value: Quantity,
) -> MetricStatus {
    let current = MetricValueStatus {
        average_utilization: utilization,
        average_value: Some(value),
        value: None,
    };
    if container.is_empty() {
        MetricStatus {
            type_: "Resource".into(),
            resource: Some(ResourceMetricStatus {
                name: resource.into(),
                current,
            }),
            ..Default::default()
        }
    } else {
        MetricStatus {
            type_: "ContainerResource".into(),
            container_resource: Some(
                k8s_openapi::api::autoscaling::v2::ContainerResourceMetricStatus {
                    name: resource.into(),
                    container: container.into(),
                    current,
                },
            ),
            ..Default::default()
        }
    }
}

impl Reconciler for HorizontalController {
    fn name(&self) -> &'static str {
        "horizontalpodautoscaler"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(hpa) = self.hpas.get(key) else {
            self.memory.forget(key);
            let mut known = self.selectors.lock().unwrap_or_else(|p| p.into_inner());
            known.remove(key);
            return Ok(Action::Done);
        };
        let hpa = &*hpa;
        let requeue = Action::RequeueAfter(self.settings.sync_period);
        let spec = hpa.spec.clone();
        let ns = hpa.metadata.namespace.clone().unwrap_or_default();
        let mut status = hpa.status.clone().unwrap_or_default();
        let target = &spec.scale_target_ref;
        let reference = format!("{}/{}/{}", target.kind, ns, target.name);
        // 1. The scale.
        let api_version = target.api_version.clone().unwrap_or_default();
        let scale_api = match self.target_resource(&api_version, &target.kind).await {
            Ok(ar) => Ok(Api::<DynamicObject>::namespaced_with(
                self.client.clone(),
                &ns,
                &ar,
            )),
            Err(e) => Err(e),
        };
        let scale: Result<(Api<DynamicObject>, Scale), String> = match scale_api {
            Ok(api) => match api.get_scale(&target.name).await {
                Ok(s) => Ok((api, s)),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        };
        let (scale_api, scale) = match scale {
            Ok(s) => s,
            Err(e) => {
                self.recorder
                    .event(hpa, "Warning", "FailedGetScale", e.clone());
                set_condition(
                    &mut status,
                    "AbleToScale",
                    "False",
                    "FailedGetScale",
                    format!("the HPA controller was unable to get the target's current scale: {e}"),
                );
                self.write_status(hpa, status).await?;
                return Err(Error::Invalid(format!(
                    "failed to query scale subresource for {reference}: {e}"
                )));
            }
        };
        set_condition(
            &mut status,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale".into(),
        );
        let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let now = meta::now_millis();
        self.memory.record_initial(key, current, now);
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        // 2, 3, 4. The count.
        let mut desired = 0;
        let mut reason = String::new();
        let mut rescale = true;
        let mut metric_statuses: Option<Vec<MetricStatus>> = None;
        let mut partial_error: Option<String> = None;
        if current == 0 && min != 0 {
            rescale = false;
            set_condition(
                &mut status,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero".into(),
            );
        } else if current > max {
            reason = "Current number of replicas above Spec.MaxReplicas".into();
            desired = max;
        } else if current < min {
            reason = "Current number of replicas below Spec.MinReplicas".into();
            desired = min;
        } else {
            let selector = scale
                .status
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            if selector.is_empty() {
                self.recorder.event(
                    hpa,
                    "Warning",
                    "SelectorRequired",
                    "selector is required".into(),
                );
                set_condition(
                    &mut status,
                    "ScalingActive",
                    "False",
                    "InvalidSelector",
                    "the HPA target's scale is missing a selector".into(),
                );
                status.current_replicas = Some(current);
                self.write_status(hpa, status).await?;
                return Err(Error::Invalid("selector is required".into()));
            }
            let parsed = match Selector::parse(&selector) {
                Ok(p) => p,
                Err(e) => {
                    let msg = format!("couldn't convert selector into a corresponding internal selector object: {e}");
                    self.recorder
                        .event(hpa, "Warning", "InvalidSelector", msg.clone());
                    set_condition(
                        &mut status,
                        "ScalingActive",
                        "False",
                        "InvalidSelector",
                        msg.clone(),
                    );
                    status.current_replicas = Some(current);
                    self.write_status(hpa, status).await?;
                    return Err(Error::Invalid(msg));
                }
            };
            let controlling = self.hpas_controlling(key, &ns, &parsed);
            if controlling.len() > 1 {
                let msg = format!(
                    "pods by selector {selector} are controlled by multiple HPAs: [{}]",
                    controlling.join(" ")
                );
                self.recorder
                    .event(hpa, "Warning", "AmbiguousSelector", msg.clone());
                set_condition(
                    &mut status,
                    "ScalingActive",
                    "False",
                    "AmbiguousSelector",
                    msg.clone(),
                );
                status.current_replicas = Some(current);
                self.write_status(hpa, status).await?;
                return Err(Error::Invalid(msg));
            }
            let specs = spec.metrics.clone().unwrap_or_default();
            let mut statuses = Vec::new();
            let (mut best, mut best_name) = (0, String::new());
            let mut failures: Vec<Failure> = Vec::new();
            for m in &specs {
                match self.proposal(hpa, current, &selector, m).await {
                    Ok(p) => {
                        if best == 0 || p.replicas > best {
                            best = p.replicas;
                            best_name = p.name;
                        }
                        statuses.push(p.status);
                    }
                    Err(f) => {
                        self.recorder
                            .event(hpa, "Warning", f.reason, f.error.clone());
                        failures.push(f);
                    }
                }
            }
            metric_statuses = Some(statuses);
            if let Some(first) = failures.first() {
                let error = format!(
                    "invalid metrics ({} invalid out of {}), first error is: {}",
                    failures.len(),
                    specs.len(),
                    first.error
                );
                if failures.len() >= specs.len() || best < current {
                    set_condition(
                        &mut status,
                        "ScalingActive",
                        "False",
                        first.reason,
                        format!(
                            "the HPA was unable to compute the replica count: {}",
                            first.error
                        ),
                    );
                    status.current_replicas = Some(current);
                    status.current_metrics = metric_statuses.filter(|s| !s.is_empty());
                    self.write_status(hpa, status).await?;
                    self.recorder.event(
                        hpa,
                        "Warning",
                        "FailedComputeMetricsReplicas",
                        error.clone(),
                    );
                    tracing::warn!(hpa = key, "failed to compute desired number of replicas based on listed metrics for {reference}: {error}");
                    return Ok(requeue);
                }
                partial_error = Some(error);
            }
            set_condition(
                &mut status,
                "ScalingActive",
                "True",
                "ValidMetricFound",
                format!(
                    "the HPA was able to successfully calculate a replica count from {best_name}"
                ),
            );
            desired = best;
            if desired > current {
                reason = format!("{best_name} above target");
            } else if desired < current {
                reason = "All metrics below target".into();
            }
            let args = normalize::Args {
                key,
                current,
                proposed: desired,
                min,
                max,
                now_ms: now,
            };
            let n = match &spec.behavior {
                None => self.memory.normalize(
                    &args,
                    self.settings.downscale_stabilization.as_millis() as i64,
                ),
                Some(b) => {
                    let window = self.settings.downscale_stabilization.as_secs() as i32;
                    let (up, down) = normalize::with_defaults(b, window);
                    self.memory.normalize_with_behavior(&args, &up, &down)
                }
            };
            set_condition(
                &mut status,
                "AbleToScale",
                "True",
                n.able_reason,
                n.able_message.into(),
            );
            set_condition(
                &mut status,
                "ScalingLimited",
                if n.limited { "True" } else { "False" },
                n.limited_reason,
                n.limited_message.into(),
            );
            desired = n.replicas;
            rescale = desired != current;
        }
        // 5. The write.
        if rescale {
            let mut scale = scale;
            let mut attempt = 0;
            let result = loop {
                attempt += 1;
                if let Some(s) = scale.spec.as_mut() {
                    s.replicas = Some(desired);
                }
                match scale_api
                    .replace_scale(&target.name, &PostParams::default(), &scale)
                    .await
                {
                    Ok(_) => break Ok(()),
                    Err(e) if crate::machinery::controller::is_conflict(&e) && attempt < 5 => {
                        if let Ok(fresh) = scale_api.get_scale(&target.name).await {
                            scale = fresh;
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            if let Err(e) = result {
                self.recorder.event(
                    hpa,
                    "Warning",
                    "FailedRescale",
                    format!("New size: {desired}; reason: {reason}; error: {e}"),
                );
                set_condition(
                    &mut status,
                    "AbleToScale",
                    "False",
                    "FailedUpdateScale",
                    format!("the HPA controller was unable to update the target scale: {e}"),
                );
                status.current_replicas = Some(current);
                status.current_metrics = metric_statuses.filter(|s| !s.is_empty());
                self.write_status(hpa, status).await?;
                return Err(Error::Api {
                    context: format!("failed to rescale {reference}"),
                    source: e,
                });
            }
            set_condition(
                &mut status,
                "AbleToScale",
                "True",
                "SucceededRescale",
                format!("the HPA controller was able to update the target scale to {desired}"),
            );
            self.recorder.event(
                hpa,
                "Normal",
                "SuccessfulRescale",
                format!("New size: {desired}; reason: {reason}"),
            );
            if let Some(b) = &spec.behavior {
                let window = self.settings.downscale_stabilization.as_secs() as i32;
                let (up, down) = normalize::with_defaults(b, window);
                self.memory
                    .record_scale(key, &up, &down, current, desired, now);
            }
            tracing::info!(hpa = key, current, desired, reason = %reason, "successfully rescaled");
            status.last_scale_time = Some(meta::now());
        } else {
            desired = current;
        }
        // 6. Status.
        status.current_replicas = Some(current);
        status.desired_replicas = desired;
        status.current_metrics = metric_statuses.filter(|s| !s.is_empty());
        // Upstream rebuilds the status from these fields alone.
        status.observed_generation = None;
        self.write_status(hpa, status).await?;
        if let Some(e) = partial_error {
            tracing::warn!(hpa = key, "some metrics failed: {e}");
        }
        Ok(requeue)
    }
}
