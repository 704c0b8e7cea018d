//! `/service/profiles` and `/service/profiles/{id}`.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rushes_core::ops::profiles::ProfileQuery;
use rushes_model::{Format, MimeType, Profile, ProfileId};

use super::listing::{listing_response, paging};
use crate::error::ApiResult;
use crate::extract::{Json, PathParam, QueryParams};
use crate::AppState;
use axum::Extension;
use rushes_core::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/service/profiles", get(list))
        .route("/service/profiles/{profile_id}", get(get_one).post(create))
}

async fn list(State(state): State<AppState>, uri: Uri, q: QueryParams) -> ApiResult<Response> {
    let query = ProfileQuery {
        format: q.parse::<Format>("format")?,
        codec: q.parse::<MimeType>("codec")?.map(|m| m.to_string()),
        label: q.get("label").map(str::to_owned),
        paging: paging(&state, &q)?,
    };
    let listing = state.store.list_profiles(&query).await?;
    Ok(listing_response(
        &state,
        uri.path(),
        &q,
        &query.paging,
        false,
        listing,
    ))
}

async fn get_one(
    State(state): State<AppState>,
    PathParam(id): PathParam<ProfileId>,
) -> ApiResult<axum::Json<Profile>> {
    Ok(axum::Json(state.store.get_profile(id).await?))
}

async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<ProfileId>,
    Json(p): Json<Profile>,
) -> ApiResult<Response> {
    let profile = state.store.create_profile(&principal, id, p).await?;
    Ok((StatusCode::CREATED, axum::Json(profile)).into_response())
}
