//! Why a write was refused: one type for every domain, decided inside the write's transaction
//! (so the check and the change are one atomic step), mapped to an error in one place
//! (`From<Refusal> for DomainError`).

/// Why a write did not happen. Nothing was written. The texts are safe to show to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The named thing (`"thread"`, `"invitation"`, `"tile"`, ...) does not exist or the caller
    /// may not see it: the same answer, so ids cannot be probed.
    NotFound(&'static str),
    /// The change conflicts with the current state; the text says how.
    Conflict(&'static str),
    /// The caller may see the object but not do this; the text says why.
    Forbidden(&'static str),
    /// The input names something the rule does not allow; the text says what.
    Invalid(&'static str),
    /// Only a draft's ring holder may do this.
    NotRingHolder,
}

/// A write's outcome: what it wrote, or why it wrote nothing.
pub type Written<T> = Result<T, Refusal>;
