//! Vertex AI endpoints: deploy a model version with a share of the traffic (canary), undeploy.

use std::collections::HashMap;

use google_cloud_aiplatform_v1::client::EndpointService;
use google_cloud_aiplatform_v1::model::{
    deployed_model, DedicatedResources, DeployedModel, Endpoint, MachineSpec,
};
use google_cloud_lro::Poller;

use super::{full_name, vertex_client};

use crate::client::{api_error, Gcp};
use crate::error::{GcpError, Result};
use crate::DryRun;

/// A model deployed on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedModelInfo {
    /// Deployed-model id on the endpoint.
    pub id: String,
    /// `projects/../models/ID` (with `@VERSION` when deployed by version).
    pub model: String,
    /// Version id.
    pub version_id: String,
    /// Share of the traffic, percent.
    pub traffic: i32,
}

impl Gcp {
    fn endpoints(&self) -> Result<&EndpointService> {
        vertex_client!(self, endpoints, EndpointService, "Vertex AI endpoints")
    }

    /// The endpoint with this display name, created when missing; returns its resource name.
    pub fn ensure_endpoint(&self, display_name: &str) -> Result<String> {
        let parent = self.config.location();
        if self.config.dry_run {
            let mut e = Endpoint::default();
            e.display_name = display_name.to_string();
            DryRun::new(
                "aiplatform.projects.locations.endpoints.create",
                &parent,
                &e,
            )
            .print();
            return Ok(full_name(self, "endpoints", "DRY_RUN"));
        }
        let client = self.endpoints()?;
        let filter = format!("display_name=\"{display_name}\"");
        let page = self
            .block(
                self.options(client.list_endpoints())
                    .set_parent(&parent)
                    .set_filter(&filter)
                    .send(),
            )
            .map_err(|e| api_error("list endpoints", &parent, e))?;
        if let Some(found) = page
            .endpoints
            .iter()
            .find(|e| e.display_name == display_name)
        {
            return Ok(found.name.clone());
        }
        let mut endpoint = Endpoint::default();
        endpoint.display_name = display_name.to_string();
        let created = self
            .block(
                self.options(client.create_endpoint())
                    .set_parent(&parent)
                    .set_endpoint(endpoint)
                    .poller()
                    .until_done(),
            )
            .map_err(|e| api_error("create endpoint", &parent, e))?;
        Ok(created.name)
    }

    /// Models on an endpoint with their traffic shares.
    pub fn deployed_models(&self, endpoint: &str) -> Result<Vec<DeployedModelInfo>> {
        let name = full_name(self, "endpoints", endpoint);
        let client = self.endpoints()?;
        let e = self
            .block(self.options(client.get_endpoint()).set_name(&name).send())
            .map_err(|e| api_error("get endpoint", &name, e))?;
        Ok(e.deployed_models
            .iter()
            .map(|d| DeployedModelInfo {
                id: d.id.clone(),
                model: d.model.clone(),
                version_id: d.model_version_id.clone(),
                traffic: e.traffic_split.get(&d.id).copied().unwrap_or(0),
            })
            .collect())
    }

    /// Deploy `projects/../models/ID@VERSION` on the endpoint with `traffic` percent of the
    /// requests; the models already there share the rest in their current proportions.
    pub fn deploy_model(
        &self,
        endpoint: &str,
        versioned_model: &str,
        traffic: i32,
        machine_type: &str,
    ) -> Result<DeployedModelInfo> {
        if !(1..=100).contains(&traffic) {
            return Err(GcpError::Invalid {
                field: "traffic",
                value: traffic.to_string(),
                expected: "a percentage from 1 to 100",
            });
        }
        let endpoint = full_name(self, "endpoints", endpoint);
        let existing = if self.config.dry_run {
            Vec::new()
        } else {
            self.deployed_models(&endpoint)?
        };
        let split = canary_split(&existing, traffic);
        let mut machine = MachineSpec::default();
        machine.machine_type = machine_type.to_string();
        let mut resources = DedicatedResources::default();
        resources.machine_spec = Some(machine);
        resources.min_replica_count = 1;
        resources.max_replica_count = 1;
        let mut deployed = DeployedModel::default();
        deployed.model = versioned_model.to_string();
        deployed.display_name = versioned_model
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        deployed.prediction_resources = Some(
            deployed_model::PredictionResources::DedicatedResources(Box::new(resources)),
        );
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.endpoints.deployModel",
                &endpoint,
                &serde_json::json!({"deployedModel": deployed, "trafficSplit": split}),
            )
            .print();
            return Ok(DeployedModelInfo {
                id: "DRY_RUN".into(),
                model: versioned_model.to_string(),
                version_id: String::new(),
                traffic,
            });
        }
        let client = self.endpoints()?;
        let response = self
            .block(
                self.options(client.deploy_model())
                    .set_endpoint(&endpoint)
                    .set_deployed_model(deployed)
                    .set_traffic_split(split)
                    .poller()
                    .until_done(),
            )
            .map_err(|e| api_error("deploy model", &endpoint, e))?;
        let d = response.deployed_model.unwrap_or_default();
        Ok(DeployedModelInfo {
            id: d.id,
            model: d.model,
            version_id: d.model_version_id,
            traffic,
        })
    }

    /// Remove a deployed model; its traffic goes to the others in their proportions.
    pub fn undeploy_model(&self, endpoint: &str, deployed_model_id: &str) -> Result<()> {
        let endpoint = full_name(self, "endpoints", endpoint);
        let existing = if self.config.dry_run {
            Vec::new()
        } else {
            self.deployed_models(&endpoint)?
        };
        if !self.config.dry_run && !existing.iter().any(|d| d.id == deployed_model_id) {
            return Err(GcpError::Invalid {
                field: "deployed model id",
                value: deployed_model_id.to_string(),
                expected: "one of the models on the endpoint (mlops endpoints list)",
            });
        }
        let rest: Vec<DeployedModelInfo> = existing
            .into_iter()
            .filter(|d| d.id != deployed_model_id)
            .collect();
        let split = rebalance(&rest);
        if self.config.dry_run {
            DryRun::new(
                "aiplatform.projects.locations.endpoints.undeployModel",
                &endpoint,
                &serde_json::json!({"deployedModelId": deployed_model_id, "trafficSplit": split}),
            )
            .print();
            return Ok(());
        }
        let client = self.endpoints()?;
        self.block(
            self.options(client.undeploy_model())
                .set_endpoint(&endpoint)
                .set_deployed_model_id(deployed_model_id)
                .set_traffic_split(split)
                .poller()
                .until_done(),
        )
        .map_err(|e| api_error("undeploy model", &endpoint, e))?;
        Ok(())
    }
}

/// The traffic split after deploying a new model with `traffic` percent: key `"0"` is the
/// new deployment (Vertex's convention), the existing ones share `100 - traffic` in
/// proportion to their current shares (largest remainders, so the total is exactly 100).
pub fn canary_split(existing: &[DeployedModelInfo], traffic: i32) -> HashMap<String, i32> {
    let mut split = HashMap::new();
    split.insert("0".to_string(), traffic);
    let rest = 100 - traffic;
    for (id, share) in proportional(existing, rest) {
        split.insert(id, share);
    }
    split
}

/// Traffic split over `rest` after one model left, in proportion to the current shares.
pub fn rebalance(rest: &[DeployedModelInfo]) -> HashMap<String, i32> {
    proportional(rest, if rest.is_empty() { 0 } else { 100 })
        .into_iter()
        .collect()
}

fn proportional(models: &[DeployedModelInfo], total: i32) -> Vec<(String, i32)> {
    if models.is_empty() || total == 0 {
        return models.iter().map(|m| (m.id.clone(), 0)).collect();
    }
    let weight: i64 = models.iter().map(|m| i64::from(m.traffic.max(0))).sum();
    let weights: Vec<i64> = if weight == 0 {
        vec![1; models.len()]
    } else {
        models.iter().map(|m| i64::from(m.traffic.max(0))).collect()
    };
    let sum: i64 = weights.iter().sum();
    let exact: Vec<(usize, i64, i64)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (i, w * i64::from(total) / sum, w * i64::from(total) % sum))
        .collect();
    let mut shares: Vec<i64> = exact.iter().map(|e| e.1).collect();
    let mut left = i64::from(total) - shares.iter().sum::<i64>();
    let mut order: Vec<&(usize, i64, i64)> = exact.iter().collect();
    order.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    for e in order {
        if left == 0 {
            break;
        }
        shares[e.0] += 1;
        left -= 1;
    }
    models
        .iter()
        .zip(shares)
        .map(|(m, s)| (m.id.clone(), i32::try_from(s).unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dm(id: &str, traffic: i32) -> DeployedModelInfo {
        DeployedModelInfo {
            id: id.into(),
            model: String::new(),
            version_id: String::new(),
            traffic,
        }
    }

    #[test]
    fn canary_takes_its_share_and_the_rest_keep_their_proportions() {
        let split = canary_split(&[dm("a", 100)], 10);
        assert_eq!(split["0"], 10);
        assert_eq!(split["a"], 90);
        let split = canary_split(&[dm("a", 50), dm("b", 50)], 25);
        assert_eq!(split.values().sum::<i32>(), 100);
        assert_eq!(split["0"], 25);
        assert!((split["a"] - split["b"]).abs() <= 1, "{split:?}");
        let split = canary_split(&[], 100);
        assert_eq!(split.len(), 1);
        assert_eq!(split["0"], 100);
    }

    #[test]
    fn rebalance_after_undeploy_sums_to_100() {
        let split = rebalance(&[dm("a", 20), dm("b", 40)]);
        assert_eq!(split.values().sum::<i32>(), 100);
        assert_eq!(split["b"], 67);
        assert_eq!(split["a"], 33);
        assert!(rebalance(&[]).is_empty());
    }
}
