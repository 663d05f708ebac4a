#!/usr/bin/env bash
# Export the deployment variables of one environment to the following steps of a GitHub
# Actions job: .github/variables/project_vars.env, then .github/variables/<environment>.env,
# then the derived names (project id, Terraform state bucket, pipeline bucket). Prints them.
# Usage: bash .github/scripts/project_vars.sh nprod|prod
set -euo pipefail
environment="${1:?usage: project_vars.sh nprod|prod}"
case "$environment" in nprod | prod) ;; *)
    echo "project_vars.sh: environment must be nprod or prod, got '$environment'" >&2
    exit 2
    ;;
esac
dir="$(cd "$(dirname "$0")/../variables" && pwd)"
declare -A vars=()
for file in "$dir/project_vars.env" "$dir/$environment.env"; do
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ -z "${line//[[:space:]]/}" || "$line" =~ ^[[:space:]]*# ]] && continue
        if [[ ! "$line" =~ ^([A-Z][A-Z0-9_]*)=([^\"\'\$\`]*)$ ]]; then
            echo "project_vars.sh: $file: expected KEY=VALUE without quotes or \$, got: $line" >&2
            exit 1
        fi
        vars["${BASH_REMATCH[1]}"]="${BASH_REMATCH[2]}"
    done <"$file"
done
vars[ENVIRONMENT]="$environment"
: "${vars[PROJECT_PREFIX]:?PROJECT_PREFIX missing in project_vars.env}"
: "${vars[PROJECT_NAME]:?PROJECT_NAME missing in project_vars.env}"
stem="${vars[PROJECT_PREFIX]}-$environment-${vars[PROJECT_NAME]}"
vars[GCP_PROJECT_ID]="${vars[GCP_PROJECT_ID]:-$stem}"
vars[TF_STATE_BUCKET]="${vars[TF_STATE_BUCKET]:-mlops-$stem}"
vars[PIPELINE_BUCKET]="${vars[PIPELINE_BUCKET]:-gs://${vars[GCP_PROJECT_ID]}-pipelines}"
vars[PIPELINE_SERVICE_ACCOUNT]="${vars[PIPELINE_SERVICE_ACCOUNT]:-vertex-pipelines@${vars[GCP_PROJECT_ID]}.iam.gserviceaccount.com}"
out="${GITHUB_ENV:-/dev/stdout}"
for key in $(printf '%s\n' "${!vars[@]}" | sort); do
    echo "$key=${vars[$key]}"
    [[ "$out" == /dev/stdout ]] || echo "$key=${vars[$key]}" >>"$out"
done
