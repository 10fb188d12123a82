//! The user-owned library (seed 000's "user-owned data"): a playlist of opaque items and the
//! users one follows. Only the owner reads or writes it (`Forbidden` for anyone else, checked
//! first), and every write is idempotent so an optimistic client can simply retry.

use serde_json::Value;

use super::{DomainError, ids};
use crate::clock;
use crate::store::{PlaylistItemRecord, Store, Upserted, UserRecord};

/// Longest playlist item id.
pub const ITEM_ID_MAX: usize = 64;
/// Largest playlist item data, in bytes of compact JSON.
pub const DATA_MAX: usize = 64 * 1024;

fn owner_only(actor: &str, owner: &str) -> Result<(), DomainError> {
    if actor == owner {
        Ok(())
    } else {
        Err(DomainError::Forbidden("only the owner can read or change a user's library".into()))
    }
}

/// Checks a client-chosen item id: 1..=64 characters of `A-Z a-z 0-9 _ -`.
pub fn check_item_id(id: &str) -> Result<(), DomainError> {
    let valid_chars = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if (1..=ITEM_ID_MAX).contains(&id.len()) && valid_chars {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!(
            "item id must be 1 to {ITEM_ID_MAX} characters of A-Z, a-z, 0-9, '_' and '-'"
        )))
    }
}

/// `owner`'s playlist, oldest first.
pub async fn playlist(store: &Store, actor: &str, owner: &str) -> Result<Vec<PlaylistItemRecord>, DomainError> {
    owner_only(actor, owner)?;
    Ok(store.playlist(owner).await?)
}

/// Stores an item in `owner`'s playlist under `id` (a new server-chosen id when `None`): created
/// if the id is new, its data replaced if it exists. Returns which, and the item.
pub async fn put_playlist_item(
    store: &Store,
    actor: &str,
    owner: &str,
    id: Option<&str>,
    data: &Value,
) -> Result<(Upserted, PlaylistItemRecord), DomainError> {
    owner_only(actor, owner)?;
    let id = match id {
        Some(id) => {
            check_item_id(id)?;
            id.to_owned()
        }
        None => ids::new_id(),
    };
    let text = data.to_string();
    if text.len() > DATA_MAX {
        return Err(DomainError::TooLarge(format!("data is {} bytes of JSON; the limit is {DATA_MAX}", text.len())));
    }
    Ok(store.upsert_playlist_item(owner, &id, &text, clock::now_ms()).await?)
}

/// Removes `item_id` from `owner`'s playlist; removing an absent item is not an error.
pub async fn delete_playlist_item(store: &Store, actor: &str, owner: &str, item_id: &str) -> Result<(), DomainError> {
    owner_only(actor, owner)?;
    check_item_id(item_id)?;
    store.delete_playlist_item(owner, item_id).await?;
    Ok(())
}

/// The users `owner` follows, in the order followed.
pub async fn followed(store: &Store, actor: &str, owner: &str) -> Result<Vec<UserRecord>, DomainError> {
    owner_only(actor, owner)?;
    Ok(store.followed(owner).await?)
}

/// Makes `owner` follow `other`. Following oneself is `Invalid`, an unknown user `NotFound`;
/// following someone already followed changes nothing.
pub async fn follow(store: &Store, actor: &str, owner: &str, other: &str) -> Result<(), DomainError> {
    owner_only(actor, owner)?;
    if other == owner {
        return Err(DomainError::Invalid("you cannot follow yourself".into()));
    }
    if store.user(other).await?.is_none() {
        return Err(DomainError::NotFound("user"));
    }
    store.follow(owner, other, clock::now_ms()).await?;
    Ok(())
}

/// Makes `owner` stop following `other`; not following them (or an unknown id) is not an
/// error. Oneself is `Invalid`, as for [`follow`].
pub async fn unfollow(store: &Store, actor: &str, owner: &str, other: &str) -> Result<(), DomainError> {
    owner_only(actor, owner)?;
    if other == owner {
        return Err(DomainError::Invalid("you cannot follow yourself".into()));
    }
    store.unfollow(owner, other).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids() {
        assert!(check_item_id("beat-01_A").is_ok());
        assert!(check_item_id(&"a".repeat(ITEM_ID_MAX)).is_ok());
        assert!(check_item_id("").is_err());
        assert!(check_item_id(&"a".repeat(ITEM_ID_MAX + 1)).is_err());
        assert!(check_item_id("a b").is_err());
        assert!(check_item_id("é").is_err());
        assert!(check_item_id("a/b").is_err());
    }
}
