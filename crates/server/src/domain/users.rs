//! Users: ids, username rules, sign-up, provisioning from external tokens, username changes.

use rand::Rng;
use tandem_protocol::room::Room;
use tandem_protocol::ws::ServerFrame;

use super::{DomainError, ids};
use crate::clock;
use crate::hub::{self, Hub};
use crate::store::{PendingInviteRecord, Store, StoreError, UserRecord};

/// Shortest allowed username, in characters (after trimming).
pub const USERNAME_MIN: usize = 3;
/// Longest allowed username, in characters (after trimming).
pub const USERNAME_MAX: usize = 32;
/// Longest allowed display name, in characters (after trimming).
pub const NAME_MAX: usize = 100;
/// How many generated usernames sign-up tries before giving up (each is 8 random hex digits,
/// so more than one attempt is already rare).
const GENERATED_USERNAME_ATTEMPTS: usize = 5;

/// Most users a username search returns.
pub const SEARCH_LIMIT: i64 = 10;

/// A new 24-lowercase-hex user id (see [`ids::new_id`]).
pub fn new_user_id() -> String {
    ids::new_id()
}

/// Whether `id` has the shape of a user id (24 lowercase hex characters).
pub fn is_user_id(id: &str) -> bool {
    ids::is_id(id)
}

/// Trims `raw` and checks the username rules: 3..=32 characters of ASCII letters, digits,
/// `_`, `.`, `-`. Returns the trimmed username.
pub fn normalize_username(raw: &str) -> Result<String, DomainError> {
    let username = raw.trim();
    let length = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&length) {
        return Err(DomainError::Invalid(format!(
            "username must be {USERNAME_MIN} to {USERNAME_MAX} characters long, got {length}"
        )));
    }
    if let Some(bad) = username.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(DomainError::Invalid(format!(
            "username may contain only letters A-Z, digits, '_', '.' and '-', found {bad:?}"
        )));
    }
    Ok(username.to_owned())
}

/// Users whose username starts with `prefix` (trimmed, ignoring case), at most [`SEARCH_LIMIT`]:
/// how the web app finds someone to invite by name. The prefix is at most 32 characters a
/// username may contain; an empty one matches no one.
pub async fn search(store: &Store, prefix: &str) -> Result<Vec<UserRecord>, DomainError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Ok(Vec::new());
    }
    let length = prefix.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if length > USERNAME_MAX || !prefix.chars().all(allowed) {
        return Err(DomainError::Invalid(format!(
            "q must be at most {USERNAME_MAX} characters a username may contain (letters, digits, '_', '.', '-')"
        )));
    }
    Ok(store.users_by_username_prefix(prefix, SEARCH_LIMIT).await?)
}

/// The invitations `user_id` has not answered, newest first.
pub async fn pending_invites(store: &Store, user_id: &str) -> Result<Vec<PendingInviteRecord>, DomainError> {
    Ok(store.pending_invites_of(user_id).await?)
}

/// Trims a display name and checks its length.
pub fn normalize_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.chars().count() > NAME_MAX {
        return Err(DomainError::Invalid(format!("name must be at most {NAME_MAX} characters long")));
    }
    Ok(name.to_owned())
}

/// Creates a user. With a `username` it must pass the rules and be free (409 otherwise);
/// without one a free `user_xxxxxxxx` name is generated.
pub async fn sign_up(store: &Store, username: Option<&str>, name: Option<&str>) -> Result<UserRecord, DomainError> {
    let name = normalize_name(name.unwrap_or(""))?;
    match username {
        Some(raw) => {
            let user = new_record(new_user_id(), normalize_username(raw)?, name);
            store.insert_user(&user).await.map_err(username_conflict)?;
            Ok(user)
        }
        None => insert_with_generated_username(store, new_user_id(), name).await,
    }
}

/// Returns the user `id`, creating it with a generated username if it does not exist yet.
/// This is how a token from an external issuer with an unknown `sub` becomes a user.
/// Safe under races: when two requests provision the same id, both get the same row.
pub async fn provision(store: &Store, id: &str, name: Option<&str>) -> Result<UserRecord, DomainError> {
    if let Some(user) = store.user(id).await? {
        return Ok(user);
    }
    create(store, id, name).await
}

/// Creates the user `id` (not found just before) with a generated username; a concurrent
/// creation of the same id answers with its row.
async fn create(store: &Store, id: &str, name: Option<&str>) -> Result<UserRecord, DomainError> {
    if !is_user_id(id) {
        return Err(DomainError::Invalid("user ids are 24 lowercase hex characters".into()));
    }
    let name = normalize_name(name.unwrap_or("")).unwrap_or_default();
    match insert_with_generated_username(store, id.to_owned(), name).await {
        Ok(user) => Ok(user),
        // Lost a race with another provisioning of the same id: the row exists now.
        Err(DomainError::Conflict(_)) => store.user(id).await?.ok_or(DomainError::NotFound("user")),
        Err(other) => Err(other),
    }
}

/// Like [`provision`], and also the rooms the user is a member of, read in the same query when
/// the user exists (a new user is in none).
pub async fn provision_with_rooms(
    store: &Store,
    id: &str,
    name: Option<&str>,
) -> Result<(UserRecord, Vec<Room>), DomainError> {
    if let Some(found) = store.user_with_rooms(id).await? {
        return Ok(found);
    }
    Ok((create(store, id, name).await?, Vec::new()))
}

/// The user `id`, or `NotFound`.
pub async fn get(store: &Store, id: &str) -> Result<UserRecord, DomainError> {
    store.user(id).await?.ok_or(DomainError::NotFound("user"))
}

/// Changes `target`'s username on behalf of `actor`. Only users may rename themselves (403);
/// the name must pass the rules (400) and be free ignoring case (409). Renaming to one's own
/// current name in another case is allowed.
///
/// Afterwards every collaborator (each once, however many rooms they share) and the user's own
/// other connections get `user_profile_updated`, through their `user:` rooms. It is ephemeral
/// (no seq, not replayed): reads always show the current username, so a client that was away
/// refetches. A failure to load the collaborators is logged; the rename stands.
pub async fn change_username(
    store: &Store,
    hub: &Hub,
    actor: &str,
    target: &str,
    raw: &str,
) -> Result<UserRecord, DomainError> {
    if actor != target {
        return Err(DomainError::Forbidden("you can only change your own username".into()));
    }
    let username = normalize_username(raw)?;
    let user =
        store.set_username(target, &username).await.map_err(username_conflict)?.ok_or(DomainError::NotFound("user"))?;
    let frame = hub::encode(&ServerFrame::UserProfileUpdated {
        user_id: user.id.clone(),
        username: user.username.clone(),
        timestamp: clock::now_ms(),
    });
    match store.collaborators(&user.id).await {
        Ok(collaborators) => {
            for collaborator in &collaborators {
                hub.publish(&Room::user(&collaborator.id), frame.clone());
            }
        }
        Err(e) => tracing::warn!(error = %e, user_id = %user.id, "could not load collaborators; rename not announced"),
    }
    hub.publish(&Room::user(&user.id), frame);
    Ok(user)
}

fn new_record(id: String, username: String, name: String) -> UserRecord {
    UserRecord { id, username, name, created_at: clock::now_ms(), last_online: None }
}

fn username_conflict(error: StoreError) -> DomainError {
    match error {
        StoreError::Conflict => DomainError::Conflict("username is already taken".into()),
        other => DomainError::Store(other),
    }
}

async fn insert_with_generated_username(store: &Store, id: String, name: String) -> Result<UserRecord, DomainError> {
    for _ in 0..GENERATED_USERNAME_ATTEMPTS {
        let suffix: u32 = rand::rng().random();
        let user = new_record(id.clone(), format!("user_{suffix:08x}"), name.clone());
        match store.insert_user(&user).await {
            Ok(()) => return Ok(user),
            Err(StoreError::Conflict) => {
                // Either the generated name or the id is taken; an existing id ends the loop.
                if store.user(&id).await?.is_some() {
                    return Err(DomainError::Conflict("user already exists".into()));
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(DomainError::Conflict("could not find a free username; choose one".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_24_lowercase_hex() {
        let id = new_user_id();
        assert!(is_user_id(&id), "{id}");
        assert!(!is_user_id("abc"));
    }

    #[test]
    fn username_rules() {
        assert_eq!(normalize_username("  alice  ").unwrap(), "alice");
        assert_eq!(normalize_username("a.b-c_9").unwrap(), "a.b-c_9");
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username(&"a".repeat(33)).is_err());
        assert!(normalize_username(&"a".repeat(32)).is_ok());
        assert!(normalize_username("al ice").is_err());
        assert!(normalize_username("élodie").is_err());
        assert!(normalize_username("bob!").is_err());
        assert!(normalize_username("      ").is_err());
    }

    #[test]
    fn name_rules() {
        assert_eq!(normalize_name("  Alice A. ").unwrap(), "Alice A.");
        assert!(normalize_name(&"x".repeat(101)).is_err());
    }
}
