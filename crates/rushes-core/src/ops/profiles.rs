//! Flow Profiles: immutable technical metadata that Flows can be created from.

use rushes_index::ProfileFilter;
use rushes_model::{Format, Profile, ProfileId};

use super::listing::{from_doc, page_key, to_doc, Listing, Paging};
use crate::classes::recorded_name;
use crate::{now_rfc3339, CoreError, Principal, Result, Store};

/// `GET /service/profiles` filters and page.
#[derive(Debug, Clone, Default)]
pub struct ProfileQuery {
    pub format: Option<Format>,
    pub codec: Option<String>,
    pub label: Option<String>,
    pub paging: Paging,
}

impl Store {
    /// `POST /service/profiles/{id}`: creates a Profile; an existing one is never changed.
    /// `created_by` is the principal's name (an admin may name someone else).
    pub async fn create_profile(
        &self,
        principal: &Principal,
        id: ProfileId,
        mut profile: Profile,
    ) -> Result<Profile> {
        if profile.id != id {
            return Err(CoreError::BadRequest(format!(
                "the body's id {} does not match the profile id {id} in the path",
                profile.id
            )));
        }
        profile.created_by = recorded_name(principal, profile.created_by.as_ref());
        profile.created = Some(now_rfc3339());
        let doc = to_doc("profile", &profile)?;
        let pid = id.to_string();
        match self
            .index
            .write(move |tx| tx.insert_profile(&pid, &doc))
            .await
        {
            Ok(()) => Ok(profile),
            Err(rushes_index::IndexError::Conflict(_)) => Err(CoreError::BadRequest(format!(
                "profile {id} already exists; profiles cannot be changed, create a new one"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /service/profiles/{id}`.
    pub async fn get_profile(&self, id: ProfileId) -> Result<Profile> {
        let doc = self
            .index
            .get_profile(&id.to_string())
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no profile {id}")))?;
        from_doc("profile", &doc)
    }

    /// `GET /service/profiles`.
    pub async fn list_profiles(&self, q: &ProfileQuery) -> Result<Listing<Profile>> {
        let filter = ProfileFilter {
            format: q.format.map(|f| f.urn().to_owned()),
            codec: q.codec.clone(),
            label: q.label.clone(),
        };
        let page = self
            .index
            .list_profiles(
                &filter,
                page_key(&q.paging)?.as_ref(),
                q.paging.limit.max(1),
            )
            .await?;
        let items = page
            .items
            .iter()
            .map(|d| from_doc("profile", d))
            .collect::<Result<Vec<Profile>>>()?;
        Ok(Listing {
            items,
            next_page: page.next.map(|k| k.to_string()),
        })
    }
}
