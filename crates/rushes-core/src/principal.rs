//! [`Principal`]: who a request acts for, and what it may do, as the store's rules see it.

use std::fmt;

/// One of the coarse permissions of a request (the spec's scopes, appnote 0016).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// `GET` and `HEAD` of resources.
    Read,
    /// `PUT` and `POST` of resources.
    Write,
    /// `DELETE` of resources.
    Delete,
    /// Service settings and webhooks; implies every other permission.
    Admin,
}

impl Permission {
    /// Every permission, in order.
    pub const ALL: [Permission; 4] = [
        Permission::Read,
        Permission::Write,
        Permission::Delete,
        Permission::Admin,
    ];

    /// The lower-case name (`read`, `write`, `delete`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Delete => "delete",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of coarse permissions a request holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub delete: bool,
    pub admin: bool,
}

impl Access {
    /// Every permission.
    pub const FULL: Access = Access {
        read: true,
        write: true,
        delete: true,
        admin: true,
    };

    /// Whether `permission` is held; admin implies every permission.
    pub fn allows(&self, permission: Permission) -> bool {
        self.admin
            || match permission {
                Permission::Read => self.read,
                Permission::Write => self.write,
                Permission::Delete => self.delete,
                Permission::Admin => false,
            }
    }

    /// Adds `permission` to the set.
    pub fn grant(&mut self, permission: Permission) {
        match permission {
            Permission::Read => self.read = true,
            Permission::Write => self.write = true,
            Permission::Delete => self.delete = true,
            Permission::Admin => self.admin = true,
        }
    }
}

/// The authenticated caller of a request: a user, a machine account or a token's subject.
///
/// The API layer builds it from the request's credentials and hands it to the store's
/// operations, which use it to record `created_by`/`updated_by` and to apply the
/// `auth_classes` rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name recorded in `created_by`/`updated_by`: a basic user's name or a token's
    /// subject (`sub`, or the configured claim).
    pub name: String,
    /// The scopes the credentials claimed, as sent (for logs and finer rules).
    pub scopes: Vec<String>,
    /// The coarse permissions those scopes grant.
    pub access: Access,
    /// The auth classes the principal holds. `None` means the principal is not limited by
    /// auth classes (an administrator, or a store that does not use them); `Some(vec![])`
    /// means it holds no class and so sees only unclassified resources.
    pub auth_classes: Option<Vec<String>>,
}

impl Principal {
    /// The principal of a store run without authentication: every permission, no class
    /// limits.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".to_owned(),
            scopes: Vec::new(),
            access: Access::FULL,
            auth_classes: None,
        }
    }

    /// Whether the principal holds `permission` (admin implies every permission).
    pub fn can(&self, permission: Permission) -> bool {
        self.access.allows(permission)
    }

    /// Whether the principal is limited by auth classes.
    pub fn is_class_limited(&self) -> bool {
        self.auth_classes.is_some() && !self.access.admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_every_permission() {
        let admin = Access {
            admin: true,
            ..Access::default()
        };
        for p in Permission::ALL {
            assert!(admin.allows(p), "{p}");
        }
    }

    #[test]
    fn a_permission_grants_only_itself() {
        let mut access = Access::default();
        access.grant(Permission::Read);
        assert!(access.allows(Permission::Read));
        assert!(!access.allows(Permission::Write));
        assert!(!access.allows(Permission::Delete));
        assert!(!access.allows(Permission::Admin));
    }

    #[test]
    fn anonymous_is_not_class_limited() {
        let p = Principal::anonymous();
        assert!(p.can(Permission::Admin));
        assert!(!p.is_class_limited());
    }

    #[test]
    fn an_admin_with_classes_is_not_class_limited() {
        let p = Principal {
            name: "ops".into(),
            scopes: vec![],
            access: Access::FULL,
            auth_classes: Some(vec!["news".into()]),
        };
        assert!(!p.is_class_limited());
    }
}
