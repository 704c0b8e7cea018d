//! Auth classes (bbc/tams ADR 0035, appnote 0016): what a principal may do with a resource
//! given the resource's `auth_classes` tag, and whether an event may be delivered.
//!
//! The rules are pure functions ([`access`], [`may_deliver`]); the store's operations look
//! up a resource's classes with the resource and call them. The index never decides: it
//! only filters listings by the classes core hands it.

use std::collections::BTreeMap;

use rushes_model::{TagValue, Tags};

use crate::{Access, CoreError, Permission, Principal, Result, Store};

/// The name of the tag that holds a resource's auth classes.
pub const AUTH_CLASSES_TAG: &str = "auth_classes";

/// Class ceilings: the most a class grants. A class not listed grants every permission
/// (the principal's scopes alone limit it); `sport_ro = read` grants read only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassCeilings(pub BTreeMap<String, Access>);

impl ClassCeilings {
    /// What class `class` grants at most.
    pub fn of(&self, class: &str) -> Access {
        self.0.get(class).copied().unwrap_or(Access {
            read: true,
            write: true,
            delete: true,
            admin: false,
        })
    }
}

/// The classes a tag value names: a list, or one string of comma-separated names; blanks
/// dropped, sorted, without repeats.
pub fn classes_of_value(value: &TagValue) -> Vec<String> {
    let mut out: Vec<String> = match value {
        TagValue::String(s) => s.split(',').map(|c| c.trim().to_owned()).collect(),
        TagValue::List(l) => l.iter().map(|c| c.trim().to_owned()).collect(),
    };
    out.retain(|c| !c.is_empty());
    out.sort();
    out.dedup();
    out
}

/// A resource's own classes: `None` when it has no `auth_classes` tag.
pub fn classes_of_tags(tags: Option<&Tags>) -> Option<Vec<String>> {
    tags.and_then(|t| t.get(AUTH_CLASSES_TAG))
        .map(classes_of_value)
}

/// What `principal` may do with a resource whose classes are `classes` (empty:
/// unclassified): its scope permissions, limited (for a class-limited principal of a
/// classified resource) to the union of the ceilings of the classes both hold. No
/// permission at all means the resource is invisible to the principal.
pub fn access(principal: &Principal, classes: &[String], ceilings: &ClassCeilings) -> Access {
    let held = match &principal.auth_classes {
        Some(held) if principal.is_class_limited() => held,
        _ => return principal.access,
    };
    if classes.is_empty() {
        return principal.access;
    }
    let mut granted = Access::default();
    for c in classes.iter().filter(|c| held.contains(c)) {
        let ceiling = ceilings.of(c);
        granted.read |= ceiling.read;
        granted.write |= ceiling.write;
        granted.delete |= ceiling.delete;
    }
    Access {
        read: granted.read && principal.access.allows(Permission::Read),
        write: granted.write && principal.access.allows(Permission::Write),
        delete: granted.delete && principal.access.allows(Permission::Delete),
        admin: false,
    }
}

/// Whether an event whose resource had `event_classes` (the outbox row's `auth_classes`
/// column, `None` or empty when unclassified) may be delivered to a receiver holding
/// `receiver_classes` (`None`: not limited by classes, e.g. a webhook without an
/// `auth_classes` tag or a stream of an unlimited principal). The receiver must share a
/// class with the event.
pub fn may_deliver(receiver_classes: Option<&[String]>, event_classes: Option<&[String]>) -> bool {
    match (receiver_classes, event_classes) {
        (None, _) => true,
        (Some(_), None) => true,
        (Some(_), Some([])) => true,
        (Some(held), Some(ev)) => ev.iter().any(|c| held.contains(c)),
    }
}

/// The classes of an outbox row's `auth_classes` column (a JSON array, or NULL).
pub fn event_classes(column: Option<&str>) -> Option<Vec<String>> {
    column.and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
}

/// The classes a webhook registration receives events for: its `auth_classes` tag, or
/// `None` (every event) when it has none.
pub fn webhook_classes(webhook: &rushes_model::Webhook) -> Option<Vec<String>> {
    classes_of_tags(webhook.tags.as_ref())
}

/// The classes a stream or receiver acting for `principal` is limited to (`None`: none).
pub fn principal_classes(principal: &Principal) -> Option<&[String]> {
    if principal.is_class_limited() {
        principal.auth_classes.as_deref()
    } else {
        None
    }
}

/// Whether `principal` is the principal of a store without authentication.
pub(crate) fn is_anonymous(principal: &Principal) -> bool {
    *principal == Principal::anonymous()
}

/// The name to record as `created_by`/`updated_by`: the principal's, except that an admin
/// may name someone else and an open store records only what clients send.
pub(crate) fn recorded_name(principal: &Principal, sent: Option<&String>) -> Option<String> {
    if is_anonymous(principal) || (principal.access.admin && sent.is_some()) {
        sent.cloned()
    } else {
        Some(principal.name.clone())
    }
}

impl Store {
    /// The classes a listing for `principal` is filtered by; `None` (no filter, no extra
    /// SQL) when it is not class-limited.
    pub(crate) fn visible_to(&self, principal: &Principal) -> Option<Vec<String>> {
        principal_classes(principal).map(<[String]>::to_vec)
    }

    /// Checks that `principal` holds `need` on a resource with `classes`: NotFound (as if
    /// it did not exist) without any permission on it, Forbidden with some but not `need`.
    pub(crate) fn check_classes(
        &self,
        principal: &Principal,
        classes: &[String],
        need: Permission,
        not_found: impl FnOnce() -> CoreError,
    ) -> Result<()> {
        check(
            principal,
            classes,
            need,
            &self.settings.class_ceilings,
            not_found,
        )
    }

    /// Checks a change of a resource's classes from `before` to `after` by a class-limited
    /// principal: it must hold every class added or removed and every permission that
    /// class grants, and may not make a classified resource unclassified.
    pub(crate) fn check_class_change(
        &self,
        principal: &Principal,
        before: &[String],
        after: &[String],
    ) -> Result<()> {
        let Some(held) = principal_classes(principal) else {
            return Ok(());
        };
        if after.is_empty() && !before.is_empty() {
            return Err(CoreError::Forbidden(
                "a principal limited by auth classes cannot make a resource unclassified".into(),
            ));
        }
        let changed = before
            .iter()
            .filter(|c| !after.contains(c))
            .chain(after.iter().filter(|c| !before.contains(c)));
        for c in changed {
            if !held.contains(c) {
                return Err(CoreError::Forbidden(format!(
                    "cannot add or remove auth class {c:?}: the request does not hold it"
                )));
            }
            let ceiling = self.settings.class_ceilings.of(c);
            for (granted, p) in [
                (ceiling.read, Permission::Read),
                (ceiling.write, Permission::Write),
                (ceiling.delete, Permission::Delete),
            ] {
                if granted && !principal.can(p) {
                    return Err(CoreError::Forbidden(format!(
                        "cannot add or remove auth class {c:?}: it grants {p}, which the request does not hold"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The classes a class-limited principal gives a resource it creates without an
    /// `auth_classes` tag: its classes that grant write (so the resource is neither lost
    /// to it nor open to everyone). `None` for other principals.
    pub(crate) fn default_classes(&self, principal: &Principal) -> Option<Vec<String>> {
        let held = principal_classes(principal)?;
        let mut out: Vec<String> = held
            .iter()
            .filter(|c| self.settings.class_ceilings.of(c).write)
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        Some(out).filter(|o| !o.is_empty())
    }
}

/// [`Store::check_classes`] without a store, for closures on the index writer.
pub(crate) fn check(
    principal: &Principal,
    classes: &[String],
    need: Permission,
    ceilings: &ClassCeilings,
    not_found: impl FnOnce() -> CoreError,
) -> Result<()> {
    let a = access(principal, classes, ceilings);
    if a == Access::default() {
        return Err(not_found());
    }
    if !a.allows(need) {
        return Err(CoreError::Forbidden(format!(
            "the request's auth classes do not grant {need} on this resource"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(classes: Option<&[&str]>, access: Access) -> Principal {
        Principal {
            name: "p".into(),
            scopes: vec![],
            access,
            auth_classes: classes.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    const RW: Access = Access {
        read: true,
        write: true,
        delete: false,
        admin: false,
    };

    fn v(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_appnote_example_news_full_sport_read_only() {
        let mut ceilings = ClassCeilings::default();
        ceilings.0.insert(
            "sport_ro".into(),
            Access {
                read: true,
                ..Access::default()
            },
        );
        let news_x = v(&["news", "sport_ro"]);
        let sport_a = v(&["sport"]);
        let news = principal(Some(&["news"]), RW);
        let sport = principal(Some(&["sport", "sport_ro"]), RW);
        assert_eq!(access(&news, &news_x, &ceilings), RW);
        assert_eq!(access(&news, &sport_a, &ceilings), Access::default());
        let ro = access(&sport, &news_x, &ceilings);
        assert!(ro.read && !ro.write);
        assert_eq!(access(&sport, &sport_a, &ceilings), RW);
        assert!(check(&sport, &news_x, Permission::Write, &ceilings, || {
            CoreError::NotFound("x".into())
        })
        .is_err_and(|e| matches!(e, CoreError::Forbidden(_))));
        assert!(check(&news, &sport_a, Permission::Read, &ceilings, || {
            CoreError::NotFound("x".into())
        })
        .is_err_and(|e| matches!(e, CoreError::NotFound(_))));
    }

    #[test]
    fn classes_never_grant_more_than_the_scopes() {
        let reader = principal(
            Some(&["news"]),
            Access {
                read: true,
                ..Access::default()
            },
        );
        let a = access(&reader, &v(&["news"]), &ClassCeilings::default());
        assert!(a.read && !a.write && !a.delete && !a.admin);
    }

    #[test]
    fn unlimited_principals_and_unclassified_resources_follow_the_scopes() {
        let admin = principal(Some(&["news"]), Access::FULL);
        assert_eq!(
            access(&admin, &v(&["sport"]), &ClassCeilings::default()),
            Access::FULL
        );
        let open = principal(None, RW);
        assert_eq!(access(&open, &v(&["sport"]), &ClassCeilings::default()), RW);
        let none = principal(Some(&[]), RW);
        assert_eq!(access(&none, &[], &ClassCeilings::default()), RW);
        assert_eq!(
            access(&none, &v(&["news"]), &ClassCeilings::default()),
            Access::default()
        );
    }

    #[test]
    fn tag_values_name_classes_as_lists_or_comma_separated_text() {
        assert_eq!(
            classes_of_value(&TagValue::String(" news, sport ,news,".into())),
            v(&["news", "sport"])
        );
        assert_eq!(
            classes_of_value(&TagValue::List(v(&["b", "a", ""]))),
            v(&["a", "b"])
        );
        assert_eq!(classes_of_tags(None), None);
    }

    #[test]
    fn delivery_needs_a_shared_class_unless_either_side_is_unlimited() {
        let news = v(&["news"]);
        let sport = v(&["sport"]);
        assert!(may_deliver(None, Some(&sport)));
        assert!(may_deliver(Some(&news), None));
        assert!(may_deliver(Some(&news), Some(&[])));
        assert!(may_deliver(Some(&news), Some(&v(&["sport", "news"]))));
        assert!(!may_deliver(Some(&news), Some(&sport)));
        assert!(!may_deliver(Some(&[]), Some(&sport)));
        assert_eq!(event_classes(Some(r#"["a","b"]"#)), Some(v(&["a", "b"])));
        assert_eq!(event_classes(None), None);
    }

    #[test]
    fn names_are_recorded_from_the_principal_unless_admin_or_open() {
        let sent = "someone".to_owned();
        let user = principal(Some(&["news"]), RW);
        assert_eq!(recorded_name(&user, Some(&sent)).as_deref(), Some("p"));
        let admin = principal(None, Access::FULL);
        assert_eq!(
            recorded_name(&admin, Some(&sent)).as_deref(),
            Some("someone")
        );
        assert_eq!(recorded_name(&admin, None).as_deref(), Some("p"));
        assert_eq!(recorded_name(&Principal::anonymous(), None), None);
        assert_eq!(
            recorded_name(&Principal::anonymous(), Some(&sent)).as_deref(),
            Some("someone")
        );
    }
}
