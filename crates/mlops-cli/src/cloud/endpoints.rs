//! `mlops endpoints list|deploy|undeploy`: registered versions on a Vertex AI endpoint.

use mlops_domain::Settings;

use super::connect;
use crate::args::{EndpointArgs, EndpointsCommand};
use crate::context::BoxError;

/// Run one `mlops endpoints` command.
pub fn run(settings: &Settings, dry_run: bool, command: EndpointsCommand) -> Result<(), BoxError> {
    let gcp = connect(settings, dry_run)?;
    let endpoint_name = |a: &EndpointArgs| {
        a.endpoint
            .clone()
            .unwrap_or_else(|| format!("{}-churn-endpoint", settings.model_name_prefix))
    };
    match command {
        EndpointsCommand::List(a) => {
            let endpoint = gcp.ensure_endpoint(&endpoint_name(&a))?;
            for d in gcp.deployed_models(&endpoint)? {
                println!("{:<22} {:>3}%  {}", d.id, d.traffic, d.model);
            }
            Ok(())
        }
        EndpointsCommand::Deploy {
            version,
            traffic,
            machine_type,
            endpoint,
        } => {
            let display = settings.model_name();
            let model = if dry_run {
                format!("{}/models/DRY_RUN", gcp.config().location())
            } else {
                gcp.find_model(&display)?
                    .ok_or_else(|| format!("no model named `{display}` in the registry"))?
                    .model
            };
            let versioned = if dry_run {
                format!("{model}@{version}")
            } else {
                gcp.model_version(&format!("{model}@{version}"))?
                    .versioned_name()
            };
            let endpoint = gcp.ensure_endpoint(&endpoint_name(&endpoint))?;
            let d = gcp.deploy_model(&endpoint, &versioned, traffic, &machine_type)?;
            if !dry_run {
                println!("{}", d.id);
                eprintln!("deployed {versioned} on {endpoint} with {traffic}% of the traffic");
            }
            Ok(())
        }
        EndpointsCommand::Undeploy {
            deployed_model_id,
            endpoint,
        } => {
            let endpoint = gcp.ensure_endpoint(&endpoint_name(&endpoint))?;
            gcp.undeploy_model(&endpoint, &deployed_model_id)?;
            if !dry_run {
                eprintln!("undeployed {deployed_model_id} from {endpoint}");
            }
            Ok(())
        }
    }
}
