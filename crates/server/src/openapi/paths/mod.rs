//! The paths of the document, one file per resource. Each operation is a
//! `#[utoipa::path]` on a declaration named after its handler: the handlers
//! stay as they are (their routes are in `crates/server/src/routes.rs`),
//! and an endpoint's answers are listed in one place, next to its docs.
//! The declarations are never called, hence `allow(dead_code)`.

#[allow(dead_code)]
mod enrichment;
#[allow(dead_code)]
mod import;
#[allow(dead_code)]
mod jobs;
#[allow(dead_code)]
mod ops;
#[allow(dead_code)]
mod page;
#[allow(dead_code)]
mod publish;
#[allow(dead_code)]
mod scan;
#[allow(dead_code)]
mod synthetic;
#[allow(dead_code)]
mod token;
#[allow(dead_code)]
mod ws;

use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

pub fn all() -> Vec<Document> {
    vec![
        import::Paths::openapi(),
        enrichment::Paths::openapi(),
        scan::Paths::openapi(),
        jobs::Paths::openapi(),
        token::Paths::openapi(),
        publish::Paths::openapi(),
        synthetic::Paths::openapi(),
        ws::Paths::openapi(),
        ops::Paths::openapi(),
        page::Paths::openapi(),
    ]
}
