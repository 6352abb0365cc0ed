//! What each scene verifies in moto once its execution has ended, through
//! [`cordon_stack::account`] (the reads and checks the end-to-end tests use too): every
//! [`Gap`] and every failed read is a line of "missing", prefixed with its scene.

use cordon_stack::account::{AccountView, ExpectedProfile, Gap, UserState};

use super::Missing;

/// A gap, said for the demo's reader.
fn said(scene: &str, gap: &Gap) -> String {
    match gap {
        Gap::NoAccessKey { .. } => {
            format!("{scene} {gap} (the simulation should have created one)")
        }
        _ => format!("{scene} {gap}"),
    }
}

/// `user` quarantined in the account `view` acts in: `policy` attached, the quarantine tag,
/// every access key inactive.
pub(super) async fn user_quarantined(
    scene: &str,
    view: &AccountView,
    policy: &str,
    user: &str,
) -> Missing {
    match view.user_state(user).await {
        Ok(state) => state
            .quarantine_gaps(user, policy)
            .iter()
            .map(|g| said(scene, g))
            .collect(),
        Err(e) => vec![format!("{scene} {e}")],
    }
}

/// `user` exactly as it was `before` (a bystander: nothing of it may change).
pub(super) async fn user_untouched(
    scene: &str,
    view: &AccountView,
    user: &str,
    before: &UserState,
    whose: &str,
) -> Missing {
    match view.user_state(user).await {
        Ok(now) if &now == before => Vec::new(),
        Ok(_) => vec![format!("{scene} {user} in {whose} was changed")],
        Err(e) => vec![format!("{scene} {e}")],
    }
}

/// Each instance's profile: the quarantine profile on `contained`, its own on the others.
pub(super) async fn instance_profiles(
    scene: &str,
    view: &AccountView,
    quarantine_profile: &str,
    contained: &str,
    instances: &[String],
) -> Missing {
    let mut missing = Vec::new();
    for id in instances {
        let expected = if id == contained {
            ExpectedProfile::Quarantine
        } else {
            ExpectedProfile::Untouched
        };
        match view.instance_state(id).await {
            Ok(state) => missing.extend(
                state
                    .profile_gap(id, quarantine_profile, expected)
                    .map(|g| said(scene, &g)),
            ),
            Err(e) => missing.push(format!("{scene} {e}")),
        }
    }
    missing
}

/// The role's sessions revoked: an inline policy denies sessions by their issue time.
pub(super) async fn role_sessions_revoked(scene: &str, view: &AccountView, role: &str) -> Missing {
    match view.role_state(role).await {
        Ok(state) => state
            .session_revocation_gaps(role)
            .iter()
            .map(|g| said(scene, g))
            .collect(),
        Err(e) => vec![format!("{scene} {e}")],
    }
}
