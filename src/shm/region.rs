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
/// ```
/// assert_eq!(turnstile::shm::LAYOUT_VERSION, 1);
/// ```
pub const LAYOUT_VERSION: u32 = 1;

/// The first 8 bytes of every region: "TRNSTILE".
const MAGIC: u64 = u64::from_le_bytes(*b"TRNSTILE");
/// `Header::ready` once the value is in place; 0 before.
const READY: u32 = 0x5244_5921;
/// How often an opener looks again for a region that does not exist yet or has no size yet.
const POLL: Duration = Duration::from_millis(1);

/// The start of every region, `#[repr(C)]`, 48 bytes; the value follows at `data_offset`.
///
/// | offset | field         | meaning |
/// |--------|---------------|---------|
/// | 0      | `magic`       | `b"TRNSTILE"` |
/// | 8      | `ready`       | 0 while the creator initialises; `0x52445921` after (a futex word) |
/// | 12     | `version`     | [`LAYOUT_VERSION`] of the creator |
/// | 16     | `size`        | `size_of::<T>()` |
/// | 24     | `align`       | `align_of::<T>()` |
/// | 32     | `type_hash`   | FNV-1a (64-bit) of `core::any::type_name::<T>()` |
/// | 40     | `data_offset` | where the value starts: 48 rounded up to `align` |
#[repr(C)]
struct Header {
    magic: u64,
    ready: AtomicU32,
    version: u32,
    size: u64,
    align: u64,
    type_hash: u64,
    data_offset: u64,
}

const HEADER: usize = core::mem::size_of::<Header>();
const _: () = assert!(HEADER == 48);

/// FNV-1a, 64-bit: a hash that every build computes the same way (std's `Hasher`s promise no
/// such thing).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// What a region for `T` must say in its header.
struct Expected {
    size: u64,
    align: u64,
    type_hash: u64,
    data_offset: usize,
}

impl Expected {
    fn of<T>() -> Self {
        let align = core::mem::align_of::<T>();
        assert!(
            align <= 4096,
            "shm::Region: a value aligned to more than a page ({align} bytes) cannot be placed"
        );
        Expected {
            size: core::mem::size_of::<T>() as u64,
            align: align as u64,
            type_hash: fnv1a(core::any::type_name::<T>().as_bytes()),
            data_offset: (HEADER + align - 1) / align * align,
        }
    }

    fn len(&self) -> usize {
        self.data_offset + self.size as usize
    }
}

/// Why a region could not be created or opened.
///
/// ```
/// use std::time::Duration;
/// use turnstile::shm::{Region, RegionError};
///
/// let name = format!("turnstile-doc-error-{}", std::process::id());
/// let made = Region::create(&name, 7u64).unwrap();
/// // Opened as another type: refused, with the reason.
/// let err = Region::<u32>::open(&name, Duration::from_secs(1)).unwrap_err();
/// assert!(matches!(err, RegionError::Type { .. }), "{err}");
/// drop(made);
/// Region::<u64>::unlink(&name).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RegionError {
    /// The operating system refused: the name is taken (`create`, [`io::ErrorKind::AlreadyExists`]),
    /// invalid ([`io::ErrorKind::InvalidInput`]), or the call failed (permissions, no memory).
    Io(io::Error),
    /// The deadline passed before a region of that name existed and was initialised: nobody
    /// created it, or its creator died while initialising it (then [`Region::unlink`] it).
    NotReady {
        /// The region's name.
        name: String,
    },
    /// The object of that name is not a turnstile region (its header has no magic).
    NotARegion {
        /// The region's name.
        name: String,
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
    /// The region holds a value of another type.
    Type {
        /// The region's name.
        name: String,
        /// The type this process asked for.
        expected: &'static str,
    },
    /// The region holds a value of this type's name but another size or alignment: the type
    /// changed between the two builds.
    Layout {
        /// The region's name.
        name: String,
        /// `(size, align)` in the region.
        found: (u64, u64),
        /// `(size, align)` of the type in this build.
        expected: (u64, u64),
    },
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::Io(e) => write!(f, "shared memory region: {e}"),
            RegionError::NotReady { name } => write!(
                f,
                "shared memory region {name:?} was not created and initialised before the deadline \
                 (if its creator died, unlink it and create it again)"
            ),
            RegionError::NotARegion { name } => write!(f, "{name:?} is not a turnstile shared memory region"),
            RegionError::Version { name, found, expected } => write!(
                f,
                "shared memory region {name:?} has layout version {found}, this build has {expected}: \
                 it was made by another version of turnstile"
            ),
            RegionError::Type { name, expected } => {
                write!(f, "shared memory region {name:?} does not hold a {expected}")
            }
            RegionError::Layout { name, found, expected } => write!(
                f,
                "shared memory region {name:?} holds a value of size {} and alignment {}, this build's \
                 type has {} and {}: the type changed between builds",
                found.0, found.1, expected.0, expected.1
            ),
        }
    }
}

impl std::error::Error for RegionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegionError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RegionError {
    fn from(e: io::Error) -> Self {
        RegionError::Io(e)
    }
}

/// A named shared-memory object (POSIX `shm_open`) holding one `T`, mapped into this process.
///
/// One process [`create`](Self::create)s it with a value; others [`open`](Self::open) it by
/// name and get the same `&T`, at whatever address their mapping has. `T` is [`ShmSafe`]: plain
/// data and the process-shared locks, which is what lets the processes coordinate through it.
///
/// The region starts with a header (see [`LAYOUT_VERSION`]): a magic number, a version, the
/// value's size and alignment, and a hash of its type's name. An opener checks all of them and
/// refuses a region made for another type or by another build with a [`RegionError`], instead of
/// reading its bytes as something they are not. Creating is race-free: the creator publishes
/// the header's `ready` word only after the value is in place, and an opener that comes first
/// waits for it (or for the name to appear at all) until its deadline.
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
/// let made = Region::create(&name, shm::Mutex::with_backend(0u64)).unwrap();
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
pub struct Region<T: ShmSafe> {
    base: NonNull<u8>,
    len: usize,
    name: String,
    _value: PhantomData<T>,
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

fn c_name(name: &str) -> io::Result<CString> {
    let valid = !name.is_empty() && name.len() < 250 && !name.contains(['/', '\0']);
    if !valid {
        let msg = format!("shm::Region name {name:?}: give 1 to 249 bytes without '/' or NUL");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    Ok(CString::new(format!("/{name}")).expect("checked for NUL above"))
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

impl<T: ShmSafe> Region<T> {
    /// Creates the region `name` (1 to 249 bytes, no `/`) holding `value`; fails with
    /// [`io::ErrorKind::AlreadyExists`] if the name is taken.
    ///
    /// The region is readable and writable by this user only (mode `0600`).
    ///
    /// ```
    /// use turnstile::shm::{self, Region};
    ///
    /// let name = format!("turnstile-doc-create-{}", std::process::id());
    /// let sem = Region::create(&name, shm::Semaphore::with_backend(2)).unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// // The name is taken until it is unlinked.
    /// assert!(Region::create(&name, shm::Semaphore::with_backend(2)).is_err());
    /// Region::<shm::Semaphore>::unlink(&name).unwrap();
    /// ```
    pub fn create(name: &str, value: T) -> Result<Self, RegionError> {
        #[allow(clippy::let_unit_value)]
        let () = NoDropGlue::<T>::CHECK;
        let expected = Expected::of::<T>();
        let c_name = c_name(name)?;
        let fd = shm_open(&c_name, libc::O_CREAT | libc::O_EXCL)?;
        let region = (|| {
            let len = expected.len();
            // SAFETY: `fd` is an open descriptor of the object we just created.
            if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Region::<T> { base: map(&fd, len)?, len, name: name.to_owned(), _value: PhantomData })
        })();
        let region = match region {
            Ok(region) => region,
            Err(e) => {
                // SAFETY: the name is NUL-terminated; we created the object and give it up.
                unsafe { libc::shm_unlink(c_name.as_ptr()) };
                return Err(e.into());
            }
        };
        let header = region.base.as_ptr().cast::<Header>();
        // SAFETY: the mapping is `len` bytes, page-aligned, zero-filled by `ftruncate`, and ours
        // alone to write: an opener reads nothing but `ready` until `ready` says so. The value
        // goes at `data_offset`, aligned for `T` and inside the mapping.
        unsafe {
            header.write(Header {
                magic: MAGIC,
                ready: AtomicU32::new(0),
                version: LAYOUT_VERSION,
                size: expected.size,
                align: expected.align,
                type_hash: expected.type_hash,
                data_offset: expected.data_offset as u64,
            });
            region.base.as_ptr().add(expected.data_offset).cast::<T>().write(value);
        }
        let ready = &region.header().ready;
        // Release: pairs with the Acquire load in `open`, which then sees the header and value.
        ready.store(READY, Release);
        ProcessShared::wake_all(ready);
        Ok(region)
    }

    /// Opens the region `name`, made by [`create`](Self::create) in this or another process,
    /// waiting up to `timeout` for it to exist and be initialised.
    ///
    /// Fails with a [`RegionError`] that says why if the region holds another type, was made by
    /// a build with another layout, or is not a turnstile region.
    ///
    /// ```
    /// use std::time::Duration;
    /// use turnstile::shm::{Region, RegionError};
    ///
    /// // Nobody creates it: the wait ends at the deadline.
    /// let err = Region::<u64>::open("turnstile-doc-nobody", Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, RegionError::NotReady { .. }));
    /// ```
    pub fn open(name: &str, timeout: Duration) -> Result<Self, RegionError> {
        let expected = Expected::of::<T>();
        let deadline = deadline_after(timeout);
        let c_name = c_name(name)?;
        let not_ready = || RegionError::NotReady { name: name.to_owned() };
        let passed = |deadline: Option<Instant>| deadline.is_some_and(|d| Instant::now() >= d);
        // Until the creator has made the object and given it its size, look again every POLL.
        let (fd, len) = loop {
            match shm_open(&c_name, 0) {
                Ok(fd) => {
                    // SAFETY: `stat` is a plain struct for the kernel to fill; `fd` is open.
                    let mut stat: libc::stat = unsafe { core::mem::zeroed() };
                    // SAFETY: as above.
                    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
                        return Err(io::Error::last_os_error().into());
                    }
                    if stat.st_size as usize >= HEADER {
                        break (fd, stat.st_size as usize);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            if passed(deadline) {
                return Err(not_ready());
            }
            std::thread::sleep(POLL);
        };
        let region = Region::<T> { base: map(&fd, len)?, len, name: name.to_owned(), _value: PhantomData };
        drop(fd);
        let header = region.header();
        loop {
            // Acquire: pairs with the Release store in `create`; the header and value it wrote
            // are visible from here on.
            match header.ready.load(Acquire) {
                READY => break,
                0 => {
                    if !ProcessShared::wait(&header.ready, 0, deadline) {
                        return Err(not_ready());
                    }
                }
                _ => return Err(RegionError::NotARegion { name: name.to_owned() }),
            }
        }
        let name = name.to_owned();
        if header.magic != MAGIC {
            return Err(RegionError::NotARegion { name });
        }
        if header.version != LAYOUT_VERSION {
            return Err(RegionError::Version { name, found: header.version, expected: LAYOUT_VERSION });
        }
        if header.type_hash != expected.type_hash {
            return Err(RegionError::Type { name, expected: core::any::type_name::<T>() });
        }
        if (header.size, header.align) != (expected.size, expected.align)
            || header.data_offset != expected.data_offset as u64
            || region.len < expected.len()
        {
            return Err(RegionError::Layout {
                name,
                found: (header.size, header.align),
                expected: (expected.size, expected.align),
            });
        }
        Ok(region)
    }

    /// Removes the name `name`: later `create`s may use it again and `open`s no longer find it.
    /// Processes that have the region mapped keep it until they drop their `Region`.
    ///
    /// ```
    /// use turnstile::shm::Region;
    ///
    /// let name = format!("turnstile-doc-unlink-{}", std::process::id());
    /// drop(Region::create(&name, 1u8).unwrap());
    /// Region::<u8>::unlink(&name).unwrap();
    /// assert!(Region::<u8>::unlink(&name).is_err()); // already gone
    /// ```
    pub fn unlink(name: &str) -> io::Result<()> {
        let c_name = c_name(name)?;
        // SAFETY: the name is NUL-terminated and outlives the call.
        if unsafe { libc::shm_unlink(c_name.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
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

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a `Header` (at least `HEADER` bytes, page-aligned);
        // its only field written after creation is the atomic `ready`.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }
}

impl<T: ShmSafe> core::ops::Deref for Region<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `create` wrote a `T` at `data_offset`, or `open` checked that the creator did
        // (a published `ready`, the same type, size, alignment and offset); it stays mapped for
        // as long as `self` lives, and `ShmSafe` makes it valid in this process too.
        unsafe { &*self.base.as_ptr().add(self.header().data_offset as usize).cast::<T>() }
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
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_value_is_placed_at_its_alignment() {
        assert_eq!(Expected::of::<u8>().data_offset, 48);
        assert_eq!(Expected::of::<crossbeam_utils::CachePadded<u8>>().data_offset % 64, 0);
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a/b", "nul\0"] {
            let err = Region::create(bad, 0u8).unwrap_err();
            assert!(matches!(&err, RegionError::Io(e) if e.kind() == io::ErrorKind::InvalidInput), "{err}");
        }
    }
}
