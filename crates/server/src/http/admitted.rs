//! The extractors every job-creating handler takes: the operator's API
//! key (`access/credential.rs`) and the job quotas (`access/admission.rs`)
//! applied to the request before its body is read.

use crate::access::credential::check;
use crate::access::{Refused, Slot};
use crate::api_error::ApiErr;
use crate::app::App;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A request allowed to create jobs: it carried the API key, if one is
/// set. Synthetic jobs need only this; every other job also [`Admitted`].
pub struct Creator {
    pub client: Option<IpAddr>,
}

impl FromRequestParts<Arc<App>> for Creator {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiErr> {
        check(
            app.config.api_key.as_ref(),
            &parts.headers,
            "starting a job",
        )?;
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Creator { client })
    }
}

/// A [`Creator`] within the job quotas: it holds the job's [`Slot`] from
/// before its body is read, so an upload over quota is refused unread.
pub struct Admitted {
    pub client: Option<IpAddr>,
    pub slot: Slot,
}

impl FromRequestParts<Arc<App>> for Admitted {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiErr> {
        let Creator { client } = Creator::from_request_parts(parts, app).await?;
        let slot = app.admission.admit(client).map_err(Refused::into_api_err)?;
        Ok(Admitted { client, slot })
    }
}
