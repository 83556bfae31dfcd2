//! [`Region`]: a named shared-memory object holding one value, with a header that says what it is.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering::*};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::ShmSafe;
use crate::backend::{Backend, ProcessShared};
use crate::wait::deadline_after;

/// The version of the layout of the header and of every process-shared lock's words. A region
/// made by a build with another version is refused ([`RegionError::Version`]): bumped whenever
/// the header or the meaning of a lock word changes.
///
/// Version 1: a 48-byte header whose type check hashed `core::any::type_name`. Version 2: the
/// 256-byte header below, which records the value's [`Layout`](super::Layout); the robust
/// mutex's words changed too.
///
/// ```
/// assert_eq!(turnstile::shm::LAYOUT_VERSION, 2);
/// ```
pub const LAYOUT_VERSION: u32 = 2;

/// The first 8 bytes of every region: "TRNSTILE".
const MAGIC: u64 = u64::from_le_bytes(*b"TRNSTILE");
/// `Header::ready` once the value is in place; 0 before.
const READY: u32 = 0x5244_5921;
/// How often an opener looks again for a region that does not exist yet or has no size yet.
const POLL: Duration = Duration::from_millis(1);
/// Room in the header for the text of the value's layout; a longer text is cut, ending in "...".
const DESCRIPTION: usize = 200;

/// The part of the header every layout version shares: enough to read the version.
#[repr(C)]
struct Prefix {
    magic: u64,
    ready: AtomicU32,
    version: u32,
}

/// The start of every region, `#[repr(C)]`, 256 bytes; the value follows at `data_offset`.
///
/// | offset | field         | meaning |
/// |--------|---------------|---------|
/// | 0      | `magic`       | `b"TRNSTILE"` |
/// | 8      | `ready`       | 0 while the creator initialises; `0x52445921` after (a futex word) |
/// | 12     | `version`     | [`LAYOUT_VERSION`] of the creator |
/// | 16     | `size`        | `size_of::<T>()` |
/// | 24     | `align`       | `align_of::<T>()` |
/// | 32     | `layout_hash` | [`Layout::hash`](super::Layout::hash) of `T` |
/// | 40     | `data_offset` | where the value starts: 256 rounded up to `align` |
/// | 48     | `description_len` | bytes of `description` used (`u32`; then 4 bytes of zero) |
/// | 56     | `description` | `T`'s layout as text (UTF-8, at most 200 bytes), for error messages |
#[repr(C)]
struct Header {
    prefix: Prefix,
    size: u64,
    align: u64,
    layout_hash: u64,
    data_offset: u64,
    description_len: u32,
    reserved: u32,
    description: [u8; DESCRIPTION],
}

const HEADER: usize = core::mem::size_of::<Header>();
const _: () = assert!(HEADER == 256);
const PREFIX: usize = core::mem::size_of::<Prefix>();

/// What a region for `T` must say in its header.
struct Expected {
    size: u64,
    align: u64,
    layout_hash: u64,
    data_offset: usize,
}

impl Expected {
    #[track_caller]
    fn of<T: ShmSafe>() -> Self {
        let (size, align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
        let layout = T::LAYOUT;
        assert!(
            (layout.size(), layout.align()) == (size, align),
            "the ShmSafe impl of {} states a LAYOUT ({layout}) of {} bytes aligned to {}, but the \
             type has {size} bytes aligned to {align}: state the layout of the type itself",
            core::any::type_name::<T>(),
            layout.size(),
            layout.align(),
        );
        assert!(
            align <= 4096,
            "shm::Region<{}>: the value is aligned to {align} bytes, more than a page (4096), and \
             cannot be placed at a fixed offset in the mapping; align it to at most 4096",
            core::any::type_name::<T>(),
        );
        Expected {
            size: size as u64,
            align: align as u64,
            layout_hash: layout.hash(),
            data_offset: (HEADER + align - 1) / align * align,
        }
    }

    fn len(&self) -> usize {
        self.data_offset + self.size as usize
    }

    fn shape(&self) -> RegionShape {
        RegionShape {
            size: self.size,
            align: self.align,
            data_offset: self.data_offset as u64,
            len: self.len() as u64,
        }
    }
}

/// A layout's text for the header: cut to fit (at a character boundary, ending in "..."), and
/// its length.
fn header_text(mut text: String) -> ([u8; DESCRIPTION], u32) {
    if text.len() > DESCRIPTION {
        let mut cut = DESCRIPTION - 3;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    let mut bytes = [0; DESCRIPTION];
    bytes[..text.len()].copy_from_slice(text.as_bytes());
    (bytes, text.len() as u32)
}

/// A layout as the errors show it: its text, size, alignment and hash.
fn layout_summary(text: &str, size: u64, align: u64, hash: u64) -> String {
    format!("{text} ({size} bytes, aligned to {align}, layout hash {hash:#018x})")
}

/// Where a region's value is and how big it is: what [`RegionError::Layout`] compares.
///
/// ```
/// use turnstile::shm::RegionShape;
/// let shape = RegionShape { size: 8, align: 8, data_offset: 256, len: 264 };
/// assert_eq!(shape.to_string(), "8 bytes aligned to 8 at offset 256, in an object of 264 bytes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionShape {
    /// The value's size.
    pub size: u64,
    /// The value's alignment.
    pub align: u64,
    /// Where the value starts in the object.
    pub data_offset: u64,
    /// The whole object's length in bytes (for the expected shape: the least it must have).
    pub len: u64,
}

impl fmt::Display for RegionShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes aligned to {} at offset {}, in an object of {} bytes",
            self.size, self.align, self.data_offset, self.len
        )
    }
}

/// Why a region could not be created, opened or unlinked. Each error names the region, and says
/// what this process expected and what it found. Where the region is likely left over from an
/// earlier run or build (the name taken, a region never finished, another layout), the message
/// says how to remove it: [`Region::unlink`], or `rm /dev/shm/<name>` from a shell.
///
/// ```
/// use std::time::Duration;
/// use turnstile::shm::{Region, RegionError};
///
/// let name = format!("turnstile-doc-error-{}", std::process::id());
/// let made = Region::create(&name, 7u64).unwrap();
/// // Opened as another type: refused, with the reason.
/// let err = Region::<u32>::open(&name, Duration::from_secs(1)).unwrap_err();
/// match &err {
///     RegionError::Type { expected, found, .. } => {
///         assert!(expected.starts_with("u32 (4 bytes"), "{expected}");
///         assert!(found.starts_with("u64 (8 bytes"), "{found}");
///     }
///     other => panic!("{other}"),
/// }
/// drop(made);
/// Region::<u64>::unlink(&name).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RegionError {
    /// The operating system refused: the name is taken (`create`, [`io::ErrorKind::AlreadyExists`]),
    /// invalid ([`io::ErrorKind::InvalidInput`]: the message says the rule), not there (`unlink`,
    /// [`io::ErrorKind::NotFound`]), or the call failed (permissions, no memory).
    Io {
        /// The region's name.
        name: String,
        /// What the system said.
        error: io::Error,
    },
    /// The deadline passed and no object of that name existed: nobody has created it (has the
    /// creating process run, with the same name?).
    NotFound {
        /// The region's name.
        name: String,
        /// How long `open` waited for it.
        waited: Duration,
    },
    /// The deadline passed while the object of that name existed but was not yet initialised:
    /// its creator is still at it, or died while at it (then [`Region::unlink`] it).
    NotReady {
        /// The region's name.
        name: String,
        /// What was there at the deadline: an object not yet sized, or one not yet published.
        found: String,
    },
    /// The object of that name is not a turnstile region: too short, no magic, or a `ready`
    /// word that is neither value a region's can be.
    NotARegion {
        /// The region's name.
        name: String,
        /// What is there instead.
        found: String,
    },
    /// The region was made by a build with another [`LAYOUT_VERSION`].
    Version {
        /// The region's name.
        name: String,
        /// The version in the region.
        found: u32,
        /// This build's version.
        expected: u32,
    },
    /// The region holds a value whose [`Layout`](super::Layout) differs from this type's: another
    /// type, or the same struct with fields added, removed, renamed, retyped or reordered.
    Type {
        /// The region's name.
        name: String,
        /// This process's type: its layout as text, size, alignment and layout hash.
        expected: String,
        /// The same, as recorded in the region's header (the text cut at 200 bytes).
        found: String,
    },
    /// The header records this type's layout, but places or sizes the value otherwise, or the
    /// object is too short to hold it: a damaged or hand-made header.
    Layout {
        /// The region's name.
        name: String,
        /// As recorded in the region (and the object's length).
        found: RegionShape,
        /// As this build lays the type out (and the least length that holds it).
        expected: RegionShape,
    },
}

/// How to remove the region `name`, for messages about one that is likely stale.
struct Removal<'a>(&'a str);

impl fmt::Display for Removal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0;
        let file = name.strip_prefix('/').unwrap_or(name);
        write!(f, "remove it with `Region::<T>::unlink({name:?})` or `rm /dev/shm/{file}`")
    }
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::Io { name, error } if error.kind() == io::ErrorKind::AlreadyExists => write!(
                f,
                "shared memory region {name:?} already exists ({error}); open it with `Region::open`, \
                 or, if it is left over from an earlier run, {}",
                Removal(name)
            ),
            RegionError::Io { name, error } => write!(f, "shared memory region {name:?}: {error}"),
            RegionError::NotFound { name, waited } => write!(
                f,
                "no shared memory region named {name:?} exists (waited {waited:?}): has the process \
                 that creates it run, with the same name? Create it with `Region::create` first, or \
                 open it with a longer timeout"
            ),
            RegionError::NotReady { name, found } => write!(
                f,
                "shared memory region {name:?} exists but was not initialised before the deadline: \
                 found {found}. Its creator may still be at it (open with a longer timeout); if it \
                 died, {} and create it again",
                Removal(name)
            ),
            RegionError::NotARegion { name, found } => write!(
                f,
                "{name:?} is not a turnstile shared memory region: expected the header of one, \
                 found {found}. Another program may use that name (choose another); if the object \
                 is yours and stale, {}",
                Removal(name)
            ),
            RegionError::Version { name, found, expected } => write!(
                f,
                "shared memory region {name:?} has layout version {found}, this build expects \
                 {expected}: it was made by another version of turnstile. If it is left over from \
                 an earlier build, {}",
                Removal(name)
            ),
            RegionError::Type { name, expected, found } => write!(
                f,
                "shared memory region {name:?} holds another type: expected {expected}, found \
                 {found}. If it is left over from an earlier build of the program, {}",
                Removal(name)
            ),
            RegionError::Layout { name, found, expected } => write!(
                f,
                "shared memory region {name:?} has a header for this type but a value that does not \
                 fit it: expected {expected}, found {found}. If it is stale or damaged, {}",
                Removal(name)
            ),
        }
    }
}

impl std::error::Error for RegionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegionError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A named shared-memory object (POSIX `shm_open`) holding one `T`, mapped into this process.
///
/// One process [`create`](Self::create)s it with a value; others [`open`](Self::open) it by
/// name and get the same `&T`, at whatever address their mapping has. `T` is [`ShmSafe`]: plain
/// data in which every bit pattern is valid, and the process-shared locks, which is what lets
/// the processes coordinate through it.
///
/// The region starts with a 256-byte header: a magic number, a layout version
/// ([`LAYOUT_VERSION`]), the value's size and alignment, and its type's
/// [`Layout`](super::Layout) (a hash, and the text for error messages). An opener checks all of
/// them and refuses a region made for another layout or by another build with a
/// [`RegionError`] that says what it expected and what it found. The layout is the struct's name
/// and its fields' names and layouts, in order, never its module path: two separately built
/// programs that declare the same struct with [`shm_struct!`](crate::shm_struct) open each
/// other's regions, and a struct of that name whose fields differ in name, type or order is
/// refused. (What the check cannot tell apart: see [`Layout`](super::Layout).)
///
/// Creating is race-free: the creator publishes the header's `ready` word only after the value
/// is in place, and an opener that comes first waits for it (or for the name to appear at all)
/// until its deadline.
///
/// The object outlives the processes: it stays until [`unlink`](Self::unlink)ed (or the machine
/// restarts), and a later `create` of the same name fails until then. Dropping a `Region` unmaps
/// it; the value is never dropped (a `ShmSafe` type needs no destructor). Linux only.
///
/// ```
/// use std::time::Duration;
/// use turnstile::shm::{self, Region};
///
/// let name = format!("turnstile-doc-region-{}", std::process::id());
/// let made = Region::create(&name, shm::Mutex::new(0u64)).unwrap();
/// *made.lock() += 1;
///
/// // Another process would do this (here the same one maps it a second time).
/// let opened = Region::<shm::Mutex<u64>>::open(&name, Duration::from_secs(1)).unwrap();
/// *opened.lock() += 1;
/// assert_eq!(*made.lock(), 2);
///
/// drop((made, opened));
/// Region::<shm::Mutex<u64>>::unlink(&name).unwrap();
/// ```
///
/// # What other processes can do to it
///
/// The object is readable and writable by its owner only (mode `0600`), so only processes of
/// the same user (and root) can open it. Processes that share a region are trusted to change it
/// only through `T`'s own methods (its locks and atomics). Any of them can still change the
/// bytes directly: that gives wrong values, never invalid ones, since every bit pattern of a
/// `ShmSafe` type is valid. One more thing any of them can do is shrink the object
/// (`ftruncate`): every process that then touches the part of its mapping past the new end gets
/// `SIGBUS` and is killed (unless it handles the signal), like any program whose mapped file is
/// truncated. Linux cannot forbid that for POSIX shared memory: the kernel creates these
/// objects already sealed against new seals (`F_SEAL_SEAL`), so `F_SEAL_SHRINK` cannot be added.
pub struct Region<T: ShmSafe> {
    base: NonNull<u8>,
    len: usize,
    /// The value, inside the mapping: fixed when created or opened, never read again from the
    /// header (which another process could rewrite).
    value: NonNull<T>,
    name: String,
}

// SAFETY: a region hands out only `&T`, like an `Arc<T>`: sending or sharing it across threads
// is sound when `T` is `Sync`, which `ShmSafe` requires.
unsafe impl<T: ShmSafe> Send for Region<T> {}
// SAFETY: as above.
unsafe impl<T: ShmSafe> Sync for Region<T> {}

/// Refuses, at compile time, a `T` that needs dropping: a region never drops its value.
struct NoDropGlue<T>(PhantomData<T>);
impl<T> NoDropGlue<T> {
    const CHECK: () =
        assert!(!core::mem::needs_drop::<T>(), "a shm::Region cannot hold a type with a destructor");
}

/// The longest name, without its leading `/`: the name is a file in `/dev/shm`, where a name is
/// at most 255 bytes; this leaves room to spare.
const NAME_MAX: usize = 249;

/// The name as `shm_open` takes it: `"/name"`, from `"name"` or `"/name"` (the same region).
fn c_name(name: &str) -> io::Result<CString> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let problem = if bare.is_empty() {
        Some("it is empty".to_owned())
    } else if bare.len() > NAME_MAX {
        Some(format!("it has {} bytes", bare.len()))
    } else if bare.contains('/') {
        Some("it has a '/' after the first byte".to_owned())
    } else if bare.contains('\0') {
        Some("it has a NUL byte".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        let msg = format!(
            "shm::Region name {name:?}: {problem}; a name is 1 to {NAME_MAX} bytes with no '/' or NUL, \
             after an optional leading '/' (\"/name\" and \"name\" are the same region)"
        );
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    Ok(CString::new(format!("/{bare}")).expect("checked for NUL above"))
}

fn shm_open(name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::shm_open(name.as_ptr(), flags | libc::O_RDWR | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The object's length in bytes.
fn object_len(fd: &OwnedFd) -> io::Result<usize> {
    // SAFETY: `stat` is a plain struct for the kernel to fill.
    let mut stat: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `fd` is open and `stat` is writable.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.st_size as usize)
}

/// Maps `len` bytes of `fd`, shared and writable.
fn map(fd: &OwnedFd, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(NonNull::new(ptr.cast()).expect("mmap returned null without failing"))
}

/// A mapping not yet checked to be a region of `T`; unmapped when dropped.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// The header's first 16 bytes; the caller has checked that the mapping holds them.
    fn prefix(&self) -> &Prefix {
        debug_assert!(self.len >= PREFIX);
        // SAFETY: the mapping is page-aligned and at least `PREFIX` bytes long; `Prefix` is plain
        // integers and an atomic, valid at any bit pattern.
        unsafe { &*self.base.as_ptr().cast::<Prefix>() }
    }

    /// The whole header; the caller has checked that the mapping holds it.
    fn header(&self) -> &Header {
        debug_assert!(self.len >= HEADER);
        // SAFETY: as in `prefix`, with `HEADER` bytes; every field is plain data.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are a mapping made by `map` and owned by `self`; no reference
        // into it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl<T: ShmSafe> Region<T> {
    /// Creates the region `name` holding `value`; fails with [`RegionError::Io`] of kind
    /// [`io::ErrorKind::AlreadyExists`] if the name is taken.
    ///
    /// A name is 1 to 249 bytes with no `/` or NUL, after an optional leading `/`: `"/jobs"` (the
    /// POSIX spelling) and `"jobs"` are the same region, the file `/dev/shm/jobs`.
    ///
    /// The region is readable and writable by this user only (mode `0600`).
    ///
    /// # Panics
    /// If `T`'s [`ShmSafe::LAYOUT`] describes another size or alignment than `T`'s (a
    /// hand-written impl that states the layout of another type).
    ///
    /// ```
    /// use turnstile::shm::{self, Region};
    ///
    /// let name = format!("turnstile-doc-create-{}", std::process::id());
    /// let sem = Region::create(&name, shm::Semaphore::new(2)).unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// // The name is taken until it is unlinked.
    /// assert!(Region::create(&name, shm::Semaphore::new(2)).is_err());
    /// Region::<shm::Semaphore>::unlink(&name).unwrap();
    /// ```
    #[track_caller]
    pub fn create(name: &str, value: T) -> Result<Self, RegionError> {
        #[allow(clippy::let_unit_value)]
        let () = NoDropGlue::<T>::CHECK;
        let expected = Expected::of::<T>();
        let io_error = |error| RegionError::Io { name: name.to_owned(), error };
        let c_name = c_name(name).map_err(io_error)?;
        let fd = shm_open(&c_name, libc::O_CREAT | libc::O_EXCL).map_err(io_error)?;
        let len = expected.len();
        let mapping = (|| {
            // SAFETY: `fd` is an open descriptor of the object we just created.
            if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Mapping { base: map(&fd, len)?, len })
        })();
        let mapping = match mapping {
            Ok(mapping) => mapping,
            Err(e) => {
                // SAFETY: the name is NUL-terminated; we created the object and give it up.
                unsafe { libc::shm_unlink(c_name.as_ptr()) };
                return Err(io_error(e));
            }
        };
        let (description, description_len) = header_text(T::LAYOUT.to_string());
        let header = mapping.base.as_ptr().cast::<Header>();
        // SAFETY: the mapping is `len` bytes, page-aligned, zero-filled by `ftruncate`, and ours
        // alone to write: an opener reads nothing but the prefix until `ready` says so. The value
        // goes at `data_offset`, aligned for `T` and inside the mapping.
        let value = unsafe {
            header.write(Header {
                prefix: Prefix { magic: MAGIC, ready: AtomicU32::new(0), version: LAYOUT_VERSION },
                size: expected.size,
                align: expected.align,
                layout_hash: expected.layout_hash,
                data_offset: expected.data_offset as u64,
                description_len,
                reserved: 0,
                description,
            });
            let place = mapping.base.as_ptr().add(expected.data_offset).cast::<T>();
            place.write(value);
            NonNull::new_unchecked(place)
        };
        let ready = &mapping.prefix().ready;
        // Release: pairs with the Acquire load in `open`, which then sees the header and value.
        ready.store(READY, Release);
        ProcessShared::wake_all(ready);
        Ok(Region::from_mapping(mapping, value, name))
    }

    fn from_mapping(mapping: Mapping, value: NonNull<T>, name: &str) -> Self {
        let mapping = core::mem::ManuallyDrop::new(mapping);
        Region { base: mapping.base, len: mapping.len, value, name: name.to_owned() }
    }

    /// Opens the region `name`, made by [`create`](Self::create) in this or another process,
    /// waiting up to `timeout` for it to exist and be initialised.
    ///
    /// Fails with a [`RegionError`] that says why if the region holds a type with another
    /// [`Layout`](super::Layout), was made by a build with another layout version, or is not a
    /// turnstile region.
    ///
    /// # Panics
    /// As [`create`](Self::create).
    ///
    /// ```
    /// use std::time::Duration;
    /// use turnstile::shm::{Region, RegionError};
    ///
    /// // Nobody creates it: the wait ends at the deadline.
    /// let err = Region::<u64>::open("turnstile-doc-nobody", Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, RegionError::NotFound { .. }));
    /// assert!(err.to_string().contains("has the process that creates it run"), "{err}");
    /// ```
    #[track_caller]
    pub fn open(name: &str, timeout: Duration) -> Result<Self, RegionError> {
        let expected = Expected::of::<T>();
        let deadline = deadline_after(timeout);
        let io_error = |error| RegionError::Io { name: name.to_owned(), error };
        let c_name = c_name(name).map_err(io_error)?;
        let passed = |deadline: Option<Instant>| deadline.is_some_and(|d| Instant::now() >= d);
        // Until the creator has made the object and given it its size, look again every POLL.
        // (`create` sizes the object with one `ftruncate`: a length other than 0 is the final one.)
        let (fd, len) = loop {
            let found = match shm_open(&c_name, 0) {
                Ok(fd) => match object_len(&fd).map_err(io_error)? {
                    0 => Some("an empty object (its creator has not sized it)"),
                    len => break (fd, len),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_error(e)),
            };
            if passed(deadline) {
                let name = name.to_owned();
                return Err(match found {
                    None => RegionError::NotFound { name, waited: timeout },
                    Some(found) => RegionError::NotReady { name, found: found.to_owned() },
                });
            }
            std::thread::sleep(POLL);
        };
        let not_a_region = |found: String| RegionError::NotARegion { name: name.to_owned(), found };
        if len < PREFIX {
            return Err(not_a_region(format!("an object of {len} bytes")));
        }
        let mapping = Mapping { base: map(&fd, len).map_err(io_error)?, len };
        drop(fd);
        let prefix = mapping.prefix();
        loop {
            // Acquire: pairs with the Release store in `create`; the header and value it wrote
            // are visible from here on.
            match prefix.ready.load(Acquire) {
                READY => break,
                0 => {
                    if !ProcessShared::wait(&prefix.ready, 0, deadline) {
                        let found = "a region whose creator has not published it (its ready word is 0)";
                        return Err(RegionError::NotReady { name: name.to_owned(), found: found.to_owned() });
                    }
                }
                other => {
                    return Err(not_a_region(format!(
                        "a ready word of {other:#010x} (a region's is 0 or {READY:#010x})"
                    )))
                }
            }
        }
        if prefix.magic != MAGIC {
            let magic = prefix.magic.to_le_bytes();
            return Err(not_a_region(format!(
                "{:?} where a region has {:?}",
                magic.escape_ascii().to_string(),
                "TRNSTILE"
            )));
        }
        if prefix.version != LAYOUT_VERSION {
            let name = name.to_owned();
            return Err(RegionError::Version { name, found: prefix.version, expected: LAYOUT_VERSION });
        }
        if len < HEADER {
            return Err(not_a_region(format!(
                "an object of {len} bytes, shorter than the {HEADER}-byte header"
            )));
        }
        let header = mapping.header();
        if header.layout_hash != expected.layout_hash {
            let used = (header.description_len as usize).min(DESCRIPTION);
            let text = String::from_utf8_lossy(&header.description[..used]);
            let found = layout_summary(&text, header.size, header.align, header.layout_hash);
            let layout = T::LAYOUT;
            let expected =
                layout_summary(&layout.to_string(), expected.size, expected.align, expected.layout_hash);
            return Err(RegionError::Type { name: name.to_owned(), expected, found });
        }
        let found = RegionShape {
            size: header.size,
            align: header.align,
            data_offset: header.data_offset,
            len: len as u64,
        };
        let expected_shape = expected.shape();
        let fits = (found.size, found.align, found.data_offset)
            == (expected_shape.size, expected_shape.align, expected_shape.data_offset)
            && found.len >= expected_shape.len;
        if !fits {
            return Err(RegionError::Layout { name: name.to_owned(), found, expected: expected_shape });
        }
        // SAFETY: `data_offset` is inside the mapping with `size_of::<T>()` bytes after it (just
        // checked), and aligned for `T` (a multiple of `align_of::<T>()` from a page boundary).
        let value =
            unsafe { NonNull::new_unchecked(mapping.base.as_ptr().add(expected.data_offset).cast::<T>()) };
        Ok(Region::from_mapping(mapping, value, name))
    }

    /// Removes the name `name` (spelled as for [`create`](Self::create)): later `create`s may use
    /// it again and `open`s no longer find it. Processes that have the region mapped keep it
    /// until they drop their `Region`. Fails with [`RegionError::Io`], naming the region: of kind
    /// [`io::ErrorKind::NotFound`] if there is no region of that name.
    ///
    /// ```
    /// use turnstile::shm::Region;
    ///
    /// let name = format!("turnstile-doc-unlink-{}", std::process::id());
    /// drop(Region::create(&name, 1u8).unwrap());
    /// Region::<u8>::unlink(&name).unwrap();
    /// assert!(Region::<u8>::unlink(&name).is_err()); // already gone
    /// ```
    pub fn unlink(name: &str) -> Result<(), RegionError> {
        let io_error = |error| RegionError::Io { name: name.to_owned(), error };
        let c_name = c_name(name).map_err(io_error)?;
        // SAFETY: the name is NUL-terminated and outlives the call.
        if unsafe { libc::shm_unlink(c_name.as_ptr()) } != 0 {
            return Err(io_error(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The name the region was created or opened with.
    ///
    /// ```
    /// use turnstile::shm::Region;
    ///
    /// let name = format!("turnstile-doc-name-{}", std::process::id());
    /// let region = Region::create(&name, 0u32).unwrap();
    /// assert_eq!(region.name(), name);
    /// # Region::<u32>::unlink(&name).unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T: ShmSafe> core::ops::Deref for Region<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `create` wrote a `T` at `value`, or `open` checked that the creator did (a
        // published `ready`, the same layout, size, alignment and offset); it stays mapped for
        // as long as `self` lives, and `ShmSafe` makes any bytes there a valid `T`.
        unsafe { self.value.as_ref() }
    }
}

impl<T: ShmSafe> Drop for Region<T> {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are the mapping made in `create`/`open`, unmapped only here;
        // no reference into it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for Region<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region").field("name", &self.name).field("value", &**self).finish()
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_placed_at_its_alignment() {
        assert_eq!(Expected::of::<u8>().data_offset, 256);
        assert_eq!(Expected::of::<crossbeam_utils::CachePadded<u8>>().data_offset % 64, 0);
    }

    #[test]
    fn a_long_layout_text_is_cut_to_fit_the_header() {
        let (bytes, len) = header_text("Short { a: u8 }".to_owned());
        assert_eq!(&bytes[..len as usize], b"Short { a: u8 }");
        // 'é' is two bytes: the cut at 197 would split one, so it falls back to 196.
        let (bytes, len) = header_text("é".repeat(150));
        assert_eq!(len, 199);
        let text = core::str::from_utf8(&bytes[..len as usize]).expect("cut at a character boundary");
        assert_eq!(text, format!("{}...", "é".repeat(98)));
    }

    #[test]
    fn bad_names_are_refused_with_the_rule() {
        let long = "x".repeat(NAME_MAX + 1);
        let cases = [
            ("", "it is empty"),
            ("/", "it is empty"),
            ("a/b", "a '/' after the first byte"),
            ("//a", "a '/' after the first byte"),
            ("nul\0", "a NUL byte"),
            (long.as_str(), "it has 250 bytes"),
        ];
        for (bad, problem) in cases {
            let err = Region::create(bad, 0u8).unwrap_err();
            assert!(
                matches!(&err, RegionError::Io { error, .. } if error.kind() == io::ErrorKind::InvalidInput),
                "{err}"
            );
            let text = err.to_string();
            assert!(text.contains(problem), "{bad:?}: {text}");
            assert!(text.contains("1 to 249 bytes") && text.contains(r#""/name" and "name""#), "{text}");
        }
    }

    #[test]
    fn a_leading_slash_is_the_posix_spelling_of_the_same_name() {
        assert_eq!(c_name("jobs").unwrap(), c_name("/jobs").unwrap());
        assert_eq!(c_name(&"x".repeat(NAME_MAX)).unwrap().as_bytes().len(), NAME_MAX + 1);
        assert_eq!(c_name(&format!("/{}", "x".repeat(NAME_MAX))).unwrap().as_bytes().len(), NAME_MAX + 1);
    }
}
