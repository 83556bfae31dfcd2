//! [`Layout`]: what a [`ShmSafe`](super::ShmSafe) type is, in words two programs can both state.
//!
//! A region's header must say what the region holds in a way that does not depend on which
//! program made it: two programs built separately, each declaring the same `#[repr(C)] struct
//! Mailbox`, must recognise each other's region, and a struct of the same name whose fields
//! differ must not pass for it. `core::any::type_name` fails both ways: it contains the crate
//! and module path (so the two programs disagree), and std does not promise it is unique (two
//! versions of one crate in one build give two types the same name).
//!
//! So every `ShmSafe` type carries a description built at compile time from what its layout
//! depends on:
//! * a primitive or atomic, by its name (`u32`, `AtomicU64`), size and alignment;
//! * an array, by its element's description and its length;
//! * one of the crate's process-shared locks, by its kind (`Mutex`, `Semaphore`, ...) and the
//!   description of the data it guards (its own words are fixed by [`LAYOUT_VERSION`]);
//! * a user's `#[repr(C)]` struct, by the name the user gives it (no module path) and, in
//!   order, each field's name and description; with `#[repr(C)]` the fields' offsets follow.
//!
//! Sizes and alignments are part of every description, so a `usize` from a 32-bit build is not a
//! `usize` from a 64-bit one. The header keeps a 64-bit hash of the whole description and its
//! text (cut to fit), so that a refused opener can say what it expected and what it found.
//!
//! [`LAYOUT_VERSION`]: super::LAYOUT_VERSION

use core::fmt;

/// What a [`ShmSafe`](super::ShmSafe) type is: its kind, name, fields, size and alignment,
/// computed at compile time. A [`Region`](super::Region) stores its hash (and its text) in the
/// header, and opens only as a type with the same description.
///
/// Two types have the same description when they are:
/// * the same primitive or atomic (`u8` and `i8` differ; `u32` and `AtomicU32` differ);
/// * arrays of the same length of elements with the same description;
/// * the same lock kind around data with the same description;
/// * structs given the same name, with the same fields (names and descriptions) in the same
///   order, and the same size and alignment.
///
/// The description never contains a module or crate path: a struct declared the same way in two
/// programs (or two modules) has one description, which is what lets separately built programs
/// share a region.
///
/// **What a region's check catches**, then: a different primitive (`u8` against `i8`, or
/// against `AtomicU8`), a different array length, lock kind or locked data, a struct of another
/// name, a field added, removed, renamed, retyped or moved, and any difference of size or
/// alignment (a `usize` from a 32-bit build; `u128`, whose alignment changed between Rust
/// releases). Accidental equality of two different descriptions is a 64-bit hash collision.
///
/// **What it cannot catch**: a difference of meaning only. Two structs given the same name and
/// the same fields are one type as far as a region can tell, even if their methods read them
/// differently (a `u32` of seconds in one program and of milliseconds in the other); give such a
/// change a new struct name or field name. A hand-written [`ShmSafe`](super::ShmSafe) impl can
/// also state any description it likes, including another type's. What keeps all of these from
/// being undefined behaviour is that every `ShmSafe` type accepts every bit pattern: a region
/// opened as the wrong type holds wrong values, never invalid ones.
///
/// ```
/// use turnstile::shm::{self, ShmSafe};
///
/// turnstile::shm_struct! {
///     struct Mailbox {
///         full: shm::Semaphore,
///         letter: shm::Mutex<[u8; 16]>,
///     }
/// }
///
/// let layout = <Mailbox as ShmSafe>::LAYOUT;
/// assert_eq!(layout.to_string(), "Mailbox { full: Semaphore, letter: Mutex<[u8; 16]> }");
/// assert_eq!((layout.size(), layout.align()), (28, 4));
/// assert_ne!(layout.hash(), <[u8; 28] as ShmSafe>::LAYOUT.hash());
/// ```
#[derive(Debug)]
pub struct Layout {
    kind: Kind,
    size: usize,
    align: usize,
    hash: u64,
}

#[derive(Debug)]
enum Kind {
    /// A type described by its name alone: a primitive, an atomic, a semaphore.
    Named(&'static str),
    /// `[T; N]`.
    Array(&'static Layout, usize),
    /// A lock or a padding wrapper around one value: `Mutex<T>`.
    Wrapper(&'static str, &'static Layout),
    /// A `#[repr(C)]` struct.
    Struct(&'static str, &'static [Field]),
}

/// One field of a `#[repr(C)]` struct, for [`Layout::repr_c`]: its name and its type's layout.
///
/// ```
/// use turnstile::shm::{Field, ShmSafe};
///
/// let field = Field::new("count", <u64 as ShmSafe>::LAYOUT);
/// assert_eq!(field.name(), "count");
/// assert_eq!(field.layout().size(), 8);
/// ```
#[derive(Debug)]
pub struct Field {
    name: &'static str,
    layout: &'static Layout,
}

impl Field {
    /// The field `name`, of a type whose layout is `layout` (`<T as ShmSafe>::LAYOUT`).
    ///
    /// ```
    /// use turnstile::shm::{self, Field, ShmSafe};
    /// let field = Field::new("ready", <shm::Semaphore as ShmSafe>::LAYOUT);
    /// assert_eq!(field.layout().to_string(), "Semaphore");
    /// ```
    pub const fn new(name: &'static str, layout: &'static Layout) -> Field {
        Field { name, layout }
    }

    /// The field's name.
    ///
    /// ```
    /// use turnstile::shm::{Field, ShmSafe};
    /// assert_eq!(Field::new("x", <u8 as ShmSafe>::LAYOUT).name(), "x");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The layout of the field's type.
    ///
    /// ```
    /// use turnstile::shm::{Field, ShmSafe};
    /// assert_eq!(Field::new("x", <u16 as ShmSafe>::LAYOUT).layout().align(), 2);
    /// ```
    pub const fn layout(&self) -> &'static Layout {
        self.layout
    }
}

/// FNV-1a, 64-bit, fed piece by piece in a `const fn`: every build computes the same value
/// (std's `Hasher`s promise no such thing).
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const fn new(tag: u8) -> Self {
        Fnv(0xcbf2_9ce4_8422_2325).byte(tag)
    }

    const fn byte(self, byte: u8) -> Self {
        Fnv((self.0 ^ byte as u64).wrapping_mul(0x0100_0000_01b3))
    }

    const fn word(mut self, word: u64) -> Self {
        let bytes = word.to_le_bytes();
        let mut i = 0;
        while i < bytes.len() {
            self = self.byte(bytes[i]);
            i += 1;
        }
        self
    }

    /// The length first, so that `("ab", "c")` and `("a", "bc")` differ.
    const fn text(mut self, text: &str) -> Self {
        let bytes = text.as_bytes();
        self = self.word(bytes.len() as u64);
        let mut i = 0;
        while i < bytes.len() {
            self = self.byte(bytes[i]);
            i += 1;
        }
        self
    }

    /// Ends every description with the size and alignment it was computed for.
    const fn finish(self, size: usize, align: usize) -> u64 {
        self.word(size as u64).word(align as u64).0
    }
}

const fn round_up(n: usize, align: usize) -> usize {
    (n + align - 1) / align * align
}

impl Layout {
    /// A type `T` described by `name` alone (and its size and alignment): how the crate describes
    /// its primitives (`"u32"`), atomics (`"AtomicU32"`) and semaphores (`"Semaphore"`). For a
    /// hand-written [`ShmSafe`](super::ShmSafe) impl of a type whose inside the other programs
    /// need not see, such as one from a C header both sides include.
    ///
    /// ```
    /// use turnstile::shm::{Layout, ShmSafe};
    /// assert_eq!(Layout::named::<u32>("u32").hash(), <u32 as ShmSafe>::LAYOUT.hash());
    /// ```
    pub const fn named<T>(name: &'static str) -> Layout {
        let (size, align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
        Layout { kind: Kind::Named(name), size, align, hash: Fnv::new(b'n').text(name).finish(size, align) }
    }

    /// `T`, a wrapper named `name` around one value described by `inner`: how the crate describes
    /// its locks (`"Mutex"` around the data) and `CachePadded`.
    ///
    /// ```
    /// use turnstile::shm::{self, Layout, ShmSafe};
    /// let layout = Layout::wrapper::<shm::Mutex<u64>>("Mutex", <u64 as ShmSafe>::LAYOUT);
    /// assert_eq!(layout.hash(), <shm::Mutex<u64> as ShmSafe>::LAYOUT.hash());
    /// ```
    pub const fn wrapper<T>(name: &'static str, inner: &'static Layout) -> Layout {
        let (size, align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
        let hash = Fnv::new(b'w').text(name).word(inner.hash).finish(size, align);
        Layout { kind: Kind::Wrapper(name, inner), size, align, hash }
    }

    /// `[E; len]`, the array `T` of `len` elements described by `element`.
    pub(crate) const fn array<T>(element: &'static Layout, len: usize) -> Layout {
        let (size, align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
        let hash = Fnv::new(b'a').word(len as u64).word(element.hash).finish(size, align);
        Layout { kind: Kind::Array(element, len), size, align, hash }
    }

    /// The `#[repr(C)]` struct `T`, named `name`, with `fields` in declaration order: what
    /// [`shm_struct!`](crate::shm_struct) states for you, and what a hand-written
    /// [`ShmSafe`](super::ShmSafe) impl states by hand.
    ///
    /// # Panics
    /// At compile time (when the layout is first used) if the fields, laid out as `#[repr(C)]`
    /// lays them out, do not fill exactly `size_of::<T>()` bytes, or if `T` is aligned less than
    /// its fields: a field left out, or a struct that is not `#[repr(C)]` (or is `packed`).
    /// A struct whose fields are listed in another order than declared, but happen to fill the
    /// same size, is not caught: list them in order.
    ///
    /// ```
    /// use turnstile::shm::{Field, Layout, ShmSafe};
    ///
    /// #[repr(C)]
    /// struct Pair {
    ///     left: u32,
    ///     right: u64,
    /// }
    ///
    /// // SAFETY: `#[repr(C)]`; both fields are `ShmSafe`, listed in order; no `Drop`.
    /// unsafe impl ShmSafe for Pair {
    ///     const LAYOUT: &'static Layout = &Layout::repr_c::<Pair>(
    ///         "Pair",
    ///         &[Field::new("left", <u32 as ShmSafe>::LAYOUT), Field::new("right", <u64 as ShmSafe>::LAYOUT)],
    ///     );
    /// }
    ///
    /// assert_eq!(Pair::LAYOUT.to_string(), "Pair { left: u32, right: u64 }");
    /// assert_eq!(Pair::LAYOUT.size(), 16); // 4 bytes of padding after `left`
    /// ```
    pub const fn repr_c<T>(name: &'static str, fields: &'static [Field]) -> Layout {
        let (size, align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
        let mut hash = Fnv::new(b's').text(name).word(fields.len() as u64);
        let (mut end, mut fields_align, mut i) = (0, 1, 0);
        while i < fields.len() {
            let field = fields[i].layout;
            end = round_up(end, field.align) + field.size;
            if field.align > fields_align {
                fields_align = field.align;
            }
            hash = hash.text(fields[i].name).word(field.hash);
            i += 1;
        }
        assert!(
            align >= fields_align && round_up(end, align) == size,
            "Layout::repr_c: the fields listed do not lay out to the struct's size and alignment: \
             is it #[repr(C)] (not packed), and is every field listed?"
        );
        Layout { kind: Kind::Struct(name, fields), size, align, hash: hash.finish(size, align) }
    }

    /// `size_of` the type described.
    ///
    /// ```
    /// use turnstile::shm::ShmSafe;
    /// assert_eq!(<[u16; 3] as ShmSafe>::LAYOUT.size(), 6);
    /// ```
    pub const fn size(&self) -> usize {
        self.size
    }

    /// `align_of` the type described.
    ///
    /// ```
    /// use turnstile::shm::ShmSafe;
    /// assert_eq!(<[u16; 3] as ShmSafe>::LAYOUT.align(), 2);
    /// ```
    pub const fn align(&self) -> usize {
        self.align
    }

    /// A 64-bit hash (FNV-1a) of the whole description: kinds, names, field order, lengths,
    /// sizes and alignments. The same in every build of every program with the same
    /// [`LAYOUT_VERSION`](super::LAYOUT_VERSION); what a region's header records.
    ///
    /// ```
    /// use turnstile::shm::ShmSafe;
    /// assert_ne!(<u8 as ShmSafe>::LAYOUT.hash(), <i8 as ShmSafe>::LAYOUT.hash());
    /// assert_ne!(<[u8; 4] as ShmSafe>::LAYOUT.hash(), <u32 as ShmSafe>::LAYOUT.hash());
    /// ```
    pub const fn hash(&self) -> u64 {
        self.hash
    }
}

/// The description as Rust-like text: `Mailbox { full: Semaphore, letter: Mutex<[u8; 16]> }`.
impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Named(name) => f.write_str(name),
            Kind::Array(element, len) => write!(f, "[{element}; {len}]"),
            Kind::Wrapper(name, inner) => write!(f, "{name}<{inner}>"),
            Kind::Struct(name, fields) => {
                f.write_str(name)?;
                if fields.is_empty() {
                    return f.write_str(" {}");
                }
                for (i, field) in fields.iter().enumerate() {
                    let sep = if i == 0 { " { " } else { ", " };
                    write!(f, "{sep}{}: {}", field.name, field.layout)?;
                }
                f.write_str(" }")
            }
        }
    }
}

/// Declares `#[repr(C)]` structs that may live in a [`shm::Region`](crate::shm::Region), and
/// implements [`ShmSafe`](crate::shm::ShmSafe) for them with their [`Layout`]: the struct's name
/// as written (no module path) and each field's name and type's layout, in order.
///
/// Every program that shares the struct declares it with the same name and the same fields in
/// the same order (its module and crate may differ): that is what [`Region::open`] compares.
///
/// [`Region::open`]: crate::shm::Region::open
///
/// Every field's type must be `ShmSafe`, checked at compile time: plain data in which every bit
/// pattern is valid, and the process-shared locks around such data. Write the struct as usual,
/// with attributes, doc comments and visibility; several structs may go in one invocation. It
/// must not implement `Drop` (refused at compile time). Generic structs and tuple structs are
/// not accepted: write those with a hand-written impl (see [`ShmSafe`](crate::shm::ShmSafe)).
///
/// ```
/// use turnstile::shm::{self, ShmSafe};
///
/// turnstile::shm_struct! {
///     /// What the two processes share.
///     #[derive(Debug)]
///     pub struct Ledger {
///         pub balance: shm::Mutex<i64>,
///         pub entries: shm::Semaphore,
///     }
/// }
///
/// assert_eq!(Ledger::LAYOUT.to_string(), "Ledger { balance: Mutex<i64>, entries: Semaphore }");
/// ```
///
/// A field that is not `ShmSafe` does not compile. A plain [`Mutex`](crate::Mutex) keeps its
/// sleepers in one process (its futex calls are private), so another process waiting on it
/// would never be woken:
///
/// ```compile_fail
/// turnstile::shm_struct! {
///     struct Broken {
///         // error: `turnstile::Mutex<u64>` is not `ShmSafe`; use `turnstile::shm::Mutex`.
///         counter: turnstile::Mutex<u64>,
///     }
/// }
/// ```
///
/// Nor does a pointer into one process's memory, or a `bool` (only 0 and 1 are valid `bool`s,
/// and another process may have written any byte):
///
/// ```compile_fail
/// turnstile::shm_struct! {
///     struct Broken {
///         done: bool,
///     }
/// }
/// ```
///
/// Nor a struct that has a destructor (a region never runs it):
///
/// ```compile_fail
/// turnstile::shm_struct! {
///     struct Noisy {
///         count: u64,
///     }
/// }
/// impl Drop for Noisy {
///     fn drop(&mut self) {}
/// }
/// ```
#[macro_export]
macro_rules! shm_struct {
    ($(
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_attr:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    )*) => {$(
        $(#[$attr])*
        #[repr(C)]
        $vis struct $name {
            $($(#[$field_attr])* $field_vis $field: $ty,)*
        }

        // The layout below names `<$ty as ShmSafe>::LAYOUT` for each field, which does not
        // compile unless the field is `ShmSafe`; the check below refuses a `Drop` impl.
        // SAFETY: `#[repr(C)]` (added above) and every field `ShmSafe`: no pointers, a fixed
        // layout, every bit pattern valid, `Sync`; the layout lists every field in order.
        unsafe impl $crate::shm::ShmSafe for $name {
            const LAYOUT: &'static $crate::shm::Layout = &$crate::shm::Layout::repr_c::<$name>(
                ::core::stringify!($name),
                &[$($crate::shm::Field::new(
                    ::core::stringify!($field),
                    <$ty as $crate::shm::ShmSafe>::LAYOUT,
                )),*],
            );
        }

        const _: () = {
            ::core::assert!(
                !::core::mem::needs_drop::<$name>(),
                "a struct in shared memory cannot implement Drop: a region never drops its value"
            );
            // Evaluates the layout here, so that its checks fail where the struct is declared.
            let _ = <$name as $crate::shm::ShmSafe>::LAYOUT;
        };
    )*};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // The FNV-1a test vectors, with our one-byte tag taken as the first byte of the input.
        assert_eq!(Fnv::new(b'a').0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            Fnv::new(b'f').byte(b'o').byte(b'o').byte(b'b').byte(b'a').byte(b'r').0,
            0x8594_4171_f739_67e8
        );
    }

    #[test]
    fn text_is_length_prefixed() {
        assert_ne!(Fnv::new(0).text("ab").text("c").0, Fnv::new(0).text("a").text("bc").0);
    }
}
