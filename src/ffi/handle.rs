//! Handles: how C names the library's objects, and the checks of every other kind of
//! argument. No exported function casts a handle pointer itself: it goes through these
//! helpers.
//!
//! A handle is not an address. It encodes a slot of a process-wide table and that slot's
//! generation: `generation << 32 | (index + 1)`, never 0, so NULL stays NULL. A live
//! slot holds one strong reference (`Arc`) of its object (but see `HandleCell`) and the
//! object's kind. Freeing
//! a handle empties its slot and bumps the generation, so every later use of the old
//! value is refused, however long ago the object itself went; a pointer that never was a
//! handle decodes to a slot that does not exist, or to one whose generation or kind
//! differs, and is refused the same way. Nothing a handle points at is ever read before
//! the handle is known live: the slots are the library's own memory, in chunks that are
//! made on first need and never moved or freed (chunk `k` holds `64 << k` slots), so the
//! lookup is a few atomic loads and no lock. A generation comes back only
//! after 2^32 frees of one slot, and freed slots are reused oldest first.
//!
//! Making and freeing a handle take the table's mutex (its free list); a fork holds it
//! (see `crate::lifecycle`), and the child keeps every handle its parent had, the table
//! being ordinary process memory.
//!
//! A borrow during a call takes no reference: the header's rule that no thread uses a
//! handle while another frees it is what keeps the object alive meanwhile.
//!
//! Handles the library lends are slots of their own that C may not free: the lock
//! `pc_value_lock` returns is freed with the value's handle (`Borrowed::lend`), so using
//! it afterwards is refused too; one made for a call is withdrawn after it (`lend`); the
//! handle of a process C never got one of lives in the object (`HandleCell`), holds no
//! reference, and ends when the object goes.

use std::collections::VecDeque;
use std::ffi::{c_char, CStr};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, ErrorKind, Result};

/// Ties an opaque C handle type to the Rust object its handles name.
///
/// # Safety
/// `KIND` must be non-zero and differ from every other handle type's: a slot of kind
/// `KIND` is read as an `Arc<Target>`.
pub(crate) unsafe trait Handle {
    type Target: Send + Sync + 'static;
    const KIND: u32;
    /// The C type's name, for error messages.
    const NAME: &'static str;
}

/// A parameter's C name: `stringify!` keeps Rust's raw-identifier prefix (`r#in` is `in`).
#[inline(always)]
pub(crate) fn param_name(name: &'static str) -> &'static str {
    name.strip_prefix("r#").unwrap_or(name)
}

// ---- the table ----------------------------------------------------------------------

/// Chunk 0 holds `1 << FIRST_CHUNK_SHIFT` slots, and each next chunk twice as many.
const FIRST_CHUNK_SHIFT: u32 = 6;
/// Chunks in all.
const CHUNKS: usize = 26;
/// The most slots: all the chunks hold, 2^32 - 64 (so `index + 1` fits the 32 bits a
/// handle gives it).
const MAX_SLOTS: u32 = (((1u64 << CHUNKS) - 1) << FIRST_CHUNK_SHIFT) as u32;
const _: () = assert!(((1u64 << CHUNKS) - 1) << FIRST_CHUNK_SHIFT < u32::MAX as u64);

/// One slot. Written under the table's mutex, read without it.
struct Slot {
    /// `generation << 32 | kind`: the live handle that names this slot and its object's
    /// kind; kind 0 while the slot is free. A fresh slot is all zeros (generation 0, which
    /// no handle carries).
    state: AtomicU64,
    /// The object, while the slot is live: an `Arc::into_raw` of the kind's target (an
    /// `Arc::as_ptr` for a `HandleCell`'s, which holds no reference).
    object: AtomicPtr<()>,
    /// The handle this slot's object lent (`Borrowed::lend`), freed with this one; 0: none.
    lent: AtomicUsize,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU64::new(0),
            object: AtomicPtr::new(ptr::null_mut()),
            lent: AtomicUsize::new(0),
        }
    }
}

/// The chunks of slots, made on first need and never freed.
static CHUNKS_MADE: [AtomicPtr<Slot>; CHUNKS] = [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS];

/// What the mutex guards: the free list and, per slot, how to let go of its object.
struct Table {
    /// Slots used so far: every index below is in a chunk already made.
    used: u32,
    /// Free slots, oldest first.
    free: VecDeque<u32>,
    /// Per used slot, while it is live.
    owners: Vec<Option<Owner>>,
}

/// How a live slot holds its object.
#[derive(Clone, Copy)]
struct Owner {
    /// Gives back the slot's reference (`Arc::<Target>::from_raw`, then drop); `None` for
    /// a slot that holds none (`HandleCell::get_or_lend`: its object ends it).
    drop: Option<unsafe fn(*const ())>,
    /// Lent by the library: C may not free it.
    lent: bool,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    used: 0,
    free: VecDeque::new(),
    owners: Vec::new(),
});

/// Locks the table; no update panics halfway, so poisoning is ignored.
fn table() -> MutexGuard<'static, Table> {
    TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The table's mutex, held across a fork (see `crate::lifecycle`): no handle is half made
/// or half freed when the child is made.
pub(crate) struct ForkGuard {
    _table: MutexGuard<'static, Table>,
}

/// Before a fork: holds the table until the guard is dropped, in both processes.
pub(crate) fn before_fork() -> ForkGuard {
    ForkGuard { _table: table() }
}

/// The chunk and the position in it of slot `index`.
#[inline(always)]
fn chunk_of(index: u32) -> (usize, usize) {
    let j = (u64::from(index) >> FIRST_CHUNK_SHIFT) + 1;
    let k = (63 - j.leading_zeros()) as usize;
    let start = ((1usize << k) - 1) << FIRST_CHUNK_SHIFT;
    (k, index as usize - start)
}

/// Slot `index`, if its chunk was made.
#[inline(always)]
fn slot(index: u32) -> Option<&'static Slot> {
    let (k, offset) = chunk_of(index);
    let chunk = CHUNKS_MADE.get(k)?.load(Acquire);
    if chunk.is_null() {
        return None;
    }
    // SAFETY: a made chunk holds `1 << (k + FIRST_CHUNK_SHIFT)` slots and is never freed;
    // `offset` is below that by `chunk_of`.
    Some(unsafe { &*chunk.add(offset) })
}

/// A handle's value: never 0, since `index + 1` is not.
#[inline(always)]
fn encode(index: u32, generation: u32) -> usize {
    ((generation as usize) << 32) | (index as usize + 1)
}

/// A handle's slot index and generation (index `u32::MAX` for a value whose low half is
/// 0: no such slot).
#[inline(always)]
fn decode(value: usize) -> (u32, u32) {
    ((value as u32).wrapping_sub(1), (value >> 32) as u32)
}

const _: () = assert!(
    usize::BITS == 64,
    "handles encode a 32-bit generation and index"
);

/// The generation after `generation`, skipping 0 (which no handle carries).
fn next_generation(generation: u32) -> u32 {
    generation.wrapping_add(1).max(1)
}

/// `Arc::from_raw` and drop, for a slot of `T`s.
///
/// # Safety
/// `object` is an `Arc::<T>::into_raw` whose reference is given back here, once.
unsafe fn drop_arc<T>(object: *const ()) {
    // SAFETY: by this function's contract.
    drop(unsafe { Arc::from_raw(object.cast::<T>()) });
}

/// A free slot for a new handle (under the table's lock), its chunk made if need be.
fn take_slot(table: &mut Table) -> Result<u32> {
    match table.free.pop_front() {
        Some(index) => Ok(index),
        None => grow(table),
    }
}

/// A slot never used before, its chunk made if need be.
fn grow(table: &mut Table) -> Result<u32> {
    let index = table.used;
    if index >= MAX_SLOTS {
        return Err(Error::new(
            ErrorKind::NoMemory,
            "no handle left: 2^32 - 64 handles are live",
        ));
    }
    let (k, offset) = chunk_of(index);
    if offset == 0 {
        let chunk: Box<[Slot]> = (0..1usize << (k as u32 + FIRST_CHUNK_SHIFT))
            .map(|_| Slot::new())
            .collect();
        CHUNKS_MADE[k].store(Box::into_raw(chunk).cast::<Slot>(), Release);
    }
    table.used += 1;
    table.owners.push(None);
    Ok(index)
}

/// Makes slot `index` (taken by `take_slot`) a live handle of `kind` for `object` and
/// returns the handle.
fn fill(table: &mut Table, index: u32, kind: u32, object: *const (), owner: Owner) -> usize {
    let slot = slot(index).expect("the chunks of used slots are made");
    let generation = ((slot.state.load(Relaxed) >> 32) as u32).max(1);
    slot.object.store(object.cast_mut(), Relaxed);
    slot.lent.store(0, Relaxed);
    // Release: who sees this state sees the object above.
    slot.state
        .store(u64::from(generation) << 32 | u64::from(kind), Release);
    table.owners[index as usize] = Some(owner);
    encode(index, generation)
}

/// Puts `object` in a new handle of its own (`lent`: the library's, not C's).
fn insert<H: Handle>(object: Arc<H::Target>, lent: bool) -> Result<usize> {
    crate::lifecycle::install();
    let mut table = table();
    // Before the object is given up: on failure it drops once the lock is let go.
    let index = take_slot(&mut table)?;
    let owner = Owner {
        drop: Some(drop_arc::<H::Target>),
        lent,
    };
    let object = Arc::into_raw(object).cast();
    Ok(fill(&mut table, index, H::KIND, object, owner))
}

/// In a process started by `exec`: makes `value`, a handle its parent passed, name
/// `object` here too, so a handle stored in the child's argument works unchanged.
/// `InvalidArgument` if no handle has that value, `WrongState` if it is taken here.
pub(crate) fn install_at<H: Handle>(value: u64, object: Arc<H::Target>) -> Result<()> {
    let (index, generation) = decode(usize::try_from(value).unwrap_or(0));
    if generation == 0 || index >= MAX_SLOTS {
        return Err(Error::invalid_argument(format!(
            "{value:#x} is not a handle value"
        )));
    }
    crate::lifecycle::install();
    let mut table = table();
    while table.used <= index {
        let fresh = grow(&mut table)?;
        table.free.push_back(fresh);
    }
    let Some(at) = table.free.iter().position(|i| *i == index) else {
        return Err(Error::wrong_state(format!(
            "handle {value:#x} is already in use in this process"
        )));
    };
    table.free.remove(at);
    let slot = slot(index).expect("the chunks of used slots are made");
    slot.state.store(u64::from(generation) << 32, Relaxed);
    let owner = Owner {
        drop: Some(drop_arc::<H::Target>),
        lent: false,
    };
    fill(
        &mut table,
        index,
        H::KIND,
        Arc::into_raw(object).cast(),
        owner,
    );
    Ok(())
}

/// The kind of the live handle `ptr`, if it is one (`None` for NULL, freed or garbage).
pub(crate) fn kind_of(ptr: *const std::ffi::c_void) -> Option<u32> {
    let (index, generation) = decode(ptr.addr());
    let state = slot(index)?.state.load(Acquire);
    let kind = state as u32;
    (kind != 0 && (state >> 32) as u32 == generation).then_some(kind)
}

/// What a freed slot held: its object's reference, given back once the lock is dropped.
struct Retired(*const (), unsafe fn(*const ()));

impl Retired {
    fn drop_object(self) {
        // SAFETY: `insert` stored an `Arc::into_raw` with its own drop function, and the
        // slot, now free, gives it back this once.
        unsafe { (self.1)(self.0) }
    }
}

/// Frees slot `index` (live, under the table's lock) and the handle it lent: their
/// generation moves on, so their handles are dead from here on.
fn retire(table: &mut Table, index: u32, retired: &mut Vec<Retired>) {
    let slot = slot(index).expect("a live slot's chunk is made");
    let generation = (slot.state.load(Relaxed) >> 32) as u32;
    slot.state
        .store(u64::from(next_generation(generation)) << 32, Release);
    let object = slot.object.swap(ptr::null_mut(), Relaxed);
    let lent = slot.lent.swap(0, Relaxed);
    let owner = table.owners[index as usize]
        .take()
        .expect("a live slot has an owner");
    table.free.push_back(index);
    if let Some(drop) = owner.drop {
        retired.push(Retired(object, drop));
    }
    if lent != 0 {
        retire(table, decode(lent).0, retired);
    }
}

/// Why a pointer is not a live handle of the kind asked for.
#[derive(Debug, PartialEq)]
enum Refused {
    /// Its slot was freed since (a later generation lives there, or none).
    Freed,
    /// Never a handle of this kind: no such slot, another kind, a generation not made yet.
    NotA,
}

impl Refused {
    #[cold]
    fn error(self, param: &str, name: &str) -> Error {
        Error::invalid_argument(match self {
            Refused::Freed => format!("{param} was already freed"),
            Refused::NotA => format!("{param} is not a {name}"),
        })
    }
}

/// The live slot of kind `kind` that `value` names.
#[inline(always)]
fn find(value: usize, kind: u32) -> std::result::Result<&'static Slot, Refused> {
    let (index, generation) = decode(value);
    let slot = slot(index).ok_or(Refused::NotA)?;
    let state = slot.state.load(Acquire);
    if state == u64::from(generation) << 32 | u64::from(kind) {
        Ok(slot)
    } else {
        Err(refusal(state, generation))
    }
}

/// Why a handle of `generation` does not match a slot in `state`.
#[cold]
fn refusal(state: u64, generation: u32) -> Refused {
    let now = (state >> 32) as u32;
    // The slot has moved past the handle's generation (modulo 2^32): it was freed. Equal
    // generations with another kind, or one the slot has not reached, were never this.
    if generation != 0 && now != generation && (now.wrapping_sub(generation) as i32) > 0 {
        Refused::Freed
    } else {
        Refused::NotA
    }
}

// ---- handles ------------------------------------------------------------------------

/// Hands an object to C as a new handle, owned by the caller (its `_free` releases it).
pub(crate) fn into_raw<H: Handle>(object: Arc<H::Target>) -> Result<*mut H> {
    Ok(ptr::without_provenance_mut(insert::<H>(object, false)?))
}

/// Lends an object to C as a new handle owned by the library: C may use it but not free
/// it; `withdraw` ends it.
pub(crate) fn lend<H: Handle>(object: Arc<H::Target>) -> Result<*mut H> {
    Ok(ptr::without_provenance_mut(insert::<H>(object, true)?))
}

/// The handle C knows an object by, kept in the object, for functions that hand out the
/// same handle again (`pc_active_children`, `pc_current_process`): the caller's own
/// (recorded by `set` when it was made), or, for an object C never got a handle of, one
/// the library lends on first ask. A lent one holds no reference, so that the object
/// still goes when its owners let go: it ends when the object (with this cell) drops.
pub(crate) struct HandleCell(AtomicUsize);

/// In a `HandleCell`: the caller's handle was freed (generation 0: never a handle).
const CELL_FREED: usize = 1;

impl HandleCell {
    pub(crate) const fn new() -> HandleCell {
        HandleCell(AtomicUsize::new(0))
    }

    /// Records `handle`, the caller's own, just made by `into_raw` for this object.
    pub(crate) fn set<H>(&self, handle: *mut H) {
        self.0.store(handle.addr(), Release);
    }

    /// The caller freed its handle: none is handed out from here on.
    pub(crate) fn forget(&self) {
        self.0.store(CELL_FREED, Release);
    }

    /// Whether `handle` (not NULL) is the one this cell holds.
    pub(crate) fn is<H>(&self, handle: *const H) -> bool {
        !handle.is_null() && self.0.load(Acquire) == handle.addr()
    }

    /// The handle of `object` (whose cell this is): the caller's own, or one lent on
    /// first ask. `None` once the caller's own was freed.
    pub(crate) fn get_or_lend<H: Handle>(&self, object: &Arc<H::Target>) -> Result<Option<*mut H>> {
        let value = match self.0.load(Acquire) {
            CELL_FREED => return Ok(None),
            0 => {
                crate::lifecycle::install();
                let mut table = table();
                // Another thread may have lent one meanwhile: it stays the only one.
                match self.0.load(Acquire) {
                    0 => {
                        let index = take_slot(&mut table)?;
                        let owner = Owner {
                            drop: None,
                            lent: true,
                        };
                        let object = Arc::as_ptr(object).cast();
                        let value = fill(&mut table, index, H::KIND, object, owner);
                        self.0.store(value, Release);
                        value
                    }
                    CELL_FREED => return Ok(None),
                    value => value,
                }
            }
            value => value,
        };
        Ok(Some(ptr::without_provenance_mut(value)))
    }

    /// As `get_or_lend`, but when the caller's own handle was freed, one is lent anew (the
    /// current process always has a handle: a dummy process's creator may free its own
    /// while the thread still runs).
    pub(crate) fn get_or_lend_anew<H: Handle>(&self, object: &Arc<H::Target>) -> Result<*mut H> {
        loop {
            if let Some(handle) = self.get_or_lend(object)? {
                return Ok(handle);
            }
            let _ = self.0.compare_exchange(CELL_FREED, 0, AcqRel, Acquire);
        }
    }
}

impl Drop for HandleCell {
    fn drop(&mut self) {
        let value = *self.0.get_mut();
        if value == 0 || value == CELL_FREED {
            return;
        }
        // The object goes: a handle lent for it ends. (The caller's own cannot be live
        // here: its slot holds a reference.)
        let mut table = table();
        let (index, generation) = decode(value);
        let live = slot(index).is_some_and(|slot| {
            (slot.state.load(Relaxed) >> 32) as u32 == generation
                && table.owners[index as usize].is_some_and(|owner| owner.drop.is_none())
        });
        if live {
            let mut retired = Vec::new();
            retire(&mut table, index, &mut retired);
            debug_assert!(retired.is_empty(), "a lent slot holds no reference");
        }
    }
}

/// The handle `cell` holds, made (owned by the library, which never frees it by itself)
/// from `make` on first ask; `make` giving `None` is NULL, and nothing is kept.
fn lend_into<H: Handle>(
    cell: &AtomicUsize,
    make: impl FnOnce() -> Result<Option<Arc<H::Target>>>,
) -> Result<*mut H> {
    let value = cell.load(Acquire);
    if value != 0 {
        return Ok(ptr::without_provenance_mut(value));
    }
    let Some(object) = make()? else {
        return Ok(ptr::null_mut());
    };
    crate::lifecycle::install();
    let mut table = table();
    // Another thread may have lent it meanwhile: that handle stays the only one (and
    // `object` drops once the lock is let go).
    let value = match cell.load(Acquire) {
        0 => {
            let index = take_slot(&mut table)?;
            let owner = Owner {
                drop: Some(drop_arc::<H::Target>),
                lent: true,
            };
            let object = Arc::into_raw(object).cast();
            let value = fill(&mut table, index, H::KIND, object, owner);
            cell.store(value, Release);
            value
        }
        value => value,
    };
    Ok(ptr::without_provenance_mut(value))
}

/// A handle borrowed for the duration of a call: derefs to the shared `Arc`.
pub(crate) struct Borrowed<T> {
    object: ManuallyDrop<Arc<T>>,
    slot: &'static Slot,
}

impl<T> Borrowed<T> {
    /// A reference of the caller's own, for objects that keep the handle's object alive.
    pub(crate) fn share(&self) -> Arc<T> {
        Arc::clone(&self.object)
    }

    /// The handle this object lends (made by `make` on first ask; `None`: NULL): owned by
    /// the library, valid until this handle is freed, which frees it too.
    pub(crate) fn lend<H: Handle>(
        &self,
        make: impl FnOnce(&T) -> Result<Option<Arc<H::Target>>>,
    ) -> Result<*mut H> {
        lend_into::<H>(&self.slot.lent, || make(&self.object))
    }
}

impl<T> Deref for Borrowed<T> {
    type Target = Arc<T>;
    fn deref(&self) -> &Arc<T> {
        &self.object
    }
}

/// Checks that `ptr` is a live handle of type `H` and borrows its object. Reads nothing
/// but the handle table.
#[inline]
pub(crate) fn borrow<H: Handle>(ptr: *const H, param: &str) -> Result<Borrowed<H::Target>> {
    if ptr.is_null() {
        return Err(null(param));
    }
    let slot = find(ptr.addr(), H::KIND).map_err(|why| why.error(param, H::NAME))?;
    let object = slot.object.load(Relaxed);
    // SAFETY: the slot is live with kind H::KIND (its Acquire load above saw the object
    // stored before it), so `object` is an `Arc<H::Target>` of its own, which the slot
    // keeps while the handle lives (no thread frees a handle another uses: the header's
    // rule); ManuallyDrop leaves its count alone.
    let object = ManuallyDrop::new(unsafe { Arc::from_raw(object.cast_const().cast()) });
    Ok(Borrowed { object, slot })
}

#[cold]
fn null(param: &str) -> Error {
    Error::invalid_argument(format!("{param} is NULL"))
}

/// Releases a handle C owns: every later use of it is refused, and the object goes with
/// its last reference (an object the library still holds, such as a lock inside a
/// condition, lives on for its holders). The handle the object lent goes with it. A
/// second free, or a free of a lent handle, is refused. NULL is a no-op; errors are
/// reported through `pc_last_error()` only.
pub(crate) fn release<H: Handle>(ptr: *mut H, param: &str) -> Result<()> {
    if ptr.is_null() {
        return Ok(());
    }
    release_with::<H>(ptr.addr(), param, false)
}

/// Ends a handle made by `lend`, e.g. one that was valid only during a call.
pub(crate) fn withdraw<H: Handle>(ptr: *mut H) {
    if !ptr.is_null() {
        let _ = release_with::<H>(ptr.addr(), "handle", true);
    }
}

fn release_with<H: Handle>(value: usize, param: &str, lent: bool) -> Result<()> {
    let mut retired = Vec::with_capacity(2);
    {
        let mut table = table();
        // Looked up under the lock: of two frees of one handle, only one finds it live.
        find(value, H::KIND).map_err(|why| why.error(param, H::NAME))?;
        let index = decode(value).0;
        let owner = table.owners[index as usize].expect("a live slot has an owner");
        if owner.lent && !lent {
            return Err(Error::invalid_argument(format!(
                "{param} is lent by the object that returned it, and freed with that \
                 object: it is not the caller's to free"
            )));
        }
        retire(&mut table, index, &mut retired);
    }
    // Outside the lock: an object's drop may take its time (a pool's, a manager's).
    for object in retired {
        object.drop_object();
    }
    Ok(())
}

/// An out-parameter: checked for NULL, written once on success.
pub(crate) fn out<'a, T>(ptr: *mut T, param: &str) -> Result<&'a mut MaybeUninit<T>> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{param} is NULL")));
    }
    // SAFETY: the caller gave a non-NULL pointer to writable storage for a T.
    Ok(unsafe { &mut *ptr.cast::<MaybeUninit<T>>() })
}

/// A NUL-terminated string parameter, as bytes (without the NUL).
pub(crate) fn c_bytes<'a>(ptr: *const c_char, param: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{param} is NULL")));
    }
    // SAFETY: the caller gave a NUL-terminated string that outlives the call.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// An optional NUL-terminated UTF-8 string parameter: `None` for NULL.
pub(crate) fn c_str_opt<'a>(ptr: *const c_char, param: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    c_str(ptr, param).map(Some)
}

/// A NUL-terminated UTF-8 string parameter.
pub(crate) fn c_str<'a>(ptr: *const c_char, param: &str) -> Result<&'a str> {
    std::str::from_utf8(c_bytes(ptr, param)?)
        .map_err(|_| Error::invalid_argument(format!("{param} is not valid UTF-8")))
}

/// `len` bytes at `ptr`; `(NULL, 0)` is the empty slice, `(NULL, n > 0)` is invalid.
pub(crate) fn bytes<'a>(ptr: *const u8, len: usize, param: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its length is {len}"
        )));
    }
    fits::<u8>(len, param)?;
    // SAFETY: the caller gave `len` readable bytes at `ptr` that outlive the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// An optional input struct: `None` when the caller passed NULL.
pub(crate) fn in_opt<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: a non-NULL pointer is a readable T, by the caller's contract.
    (!ptr.is_null()).then(|| unsafe { &*ptr })
}

/// An optional in-out struct: `None` when the caller passed NULL.
pub(crate) fn in_opt_mut<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: a non-NULL pointer is a readable, writable T, by the caller's contract.
    (!ptr.is_null()).then(|| unsafe { &mut *ptr })
}

/// An optional out-parameter: `None` when the caller passed NULL.
pub(crate) fn out_opt<'a, T>(ptr: *mut T) -> Option<&'a mut MaybeUninit<T>> {
    // SAFETY: a non-NULL pointer is writable storage for a T, by the caller's contract.
    (!ptr.is_null()).then(|| unsafe { &mut *ptr.cast::<MaybeUninit<T>>() })
}

/// An output array of `cap` elements; NULL is allowed only when `cap` is 0.
pub(crate) fn out_array<'a, T>(
    ptr: *mut T,
    cap: usize,
    param: &str,
) -> Result<&'a mut [MaybeUninit<T>]> {
    if ptr.is_null() {
        if cap == 0 {
            return Ok(&mut []);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its capacity is {cap}"
        )));
    }
    fits::<T>(cap, param)?;
    // SAFETY: the caller gave room for `cap` elements at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<MaybeUninit<T>>(), cap) })
}

/// A caller's opaque pointer (a target's `arg`, a handler's `ctx`) that the library only
/// passes back to the caller's own function, from whichever thread or forked child.
pub(crate) struct UserData(*mut std::ffi::c_void);

// SAFETY: the library never dereferences the pointer; using it from another thread or a
// forked child is the caller's contract, as with pthread_create's argument.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    pub(crate) fn new(ptr: *mut std::ffi::c_void) -> UserData {
        UserData(ptr)
    }

    /// The pointer, as given. (A method, so closures capture the whole `UserData`.)
    pub(crate) fn get(&self) -> *mut std::ffi::c_void {
        self.0
    }
}

/// Ties a handle type to its Rust object and its kind (four ASCII bytes, unique among the
/// handle types: `kinds_are_unique` lists them).
macro_rules! impl_handle {
    ($handle:ident => $target:ty, $kind:literal) => {
        // SAFETY: the kind is non-zero and unique (tested in `handle::tests`).
        unsafe impl $crate::ffi::handle::Handle for $handle {
            type Target = $target;
            const KIND: u32 = u32::from_be_bytes(*$kind);
            const NAME: &'static str = stringify!($handle);
        }
    };
}

/// The first `n` strings of a C string array such as `main`'s `argv`, stopping at a NULL
/// entry; none for a NULL array.
pub(crate) fn c_str_list<'a>(ptr: *const *mut c_char, n: usize) -> Vec<&'a CStr> {
    if ptr.is_null() {
        return Vec::new();
    }
    (0..n)
        // SAFETY: the caller gave an array of at least `n` entries (`main`'s argv holds
        // `argc`, then NULL) of NUL-terminated strings that outlive the borrow.
        .map_while(|i| unsafe { ptr.add(i).read().as_ref() })
        // SAFETY: as above.
        .map(|s| unsafe { CStr::from_ptr(s) })
        .collect()
}

/// A caller's buffer of `len` writable bytes; `(NULL, 0)` is the empty buffer.
pub(crate) fn bytes_mut<'a>(ptr: *mut u8, len: usize, param: &str) -> Result<&'a mut [u8]> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&mut []);
        }
        return Err(Error::invalid_argument(format!("{param} is NULL")));
    }
    fits::<u8>(len, param)?;
    // SAFETY: the caller gave `len` writable bytes at `ptr`, by the function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// An input array of `n` elements; NULL is allowed only when `n` is 0.
pub(crate) fn array<'a, T>(ptr: *const T, n: usize, param: &str) -> Result<&'a [T]> {
    if ptr.is_null() {
        if n == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its length is {n}"
        )));
    }
    fits::<T>(n, param)?;
    // SAFETY: the caller gave `n` readable elements at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// An in-out array of `n` elements; NULL is allowed only when `n` is 0.
pub(crate) fn array_mut<'a, T>(ptr: *mut T, n: usize, param: &str) -> Result<&'a mut [T]> {
    if ptr.is_null() {
        if n == 0 {
            return Ok(&mut []);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its length is {n}"
        )));
    }
    fits::<T>(n, param)?;
    // SAFETY: the caller gave `n` initialised, writable elements at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, n) })
}

/// Refuses a length no array of `T` can have (more than `isize::MAX` bytes): a slice that
/// long is undefined behaviour, and a sure sign of a negative number passed as a size.
fn fits<T>(len: usize, param: &str) -> Result<()> {
    match len.checked_mul(std::mem::size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Error::invalid_argument(format!(
            "length of {param} is too large: {len}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::collections::{pc_dict, pc_list, pc_namespace};
    use crate::ffi::connection::{pc_connection, pc_listener};
    use crate::ffi::managers::{pc_item_builder, pc_manager, pc_proxy};
    use crate::ffi::pool::{pc_async_result, pc_iter, pc_pool};
    use crate::ffi::process::pc_process;
    use crate::ffi::queue::pc_queue;
    use crate::ffi::sharedctypes::{pc_array, pc_value};
    use crate::ffi::synchronize::{pc_barrier, pc_condition, pc_event, pc_lock, pc_semaphore};

    /// A handle type of the tests' own, over a plain value.
    struct pc_test {
        _private: [u8; 0],
    }
    impl_handle!(pc_test => String, b"test");

    struct pc_other {
        _private: [u8; 0],
    }
    impl_handle!(pc_other => String, b"othr");

    #[test]
    fn kinds_are_unique_and_not_zero() {
        let kinds = [
            pc_process::KIND,
            pc_connection::KIND,
            pc_listener::KIND,
            pc_lock::KIND,
            pc_semaphore::KIND,
            pc_condition::KIND,
            pc_event::KIND,
            pc_barrier::KIND,
            pc_value::KIND,
            pc_array::KIND,
            pc_queue::KIND,
            pc_pool::KIND,
            pc_async_result::KIND,
            pc_iter::KIND,
            pc_manager::KIND,
            pc_proxy::KIND,
            pc_item_builder::KIND,
            pc_dict::KIND,
            pc_list::KIND,
            pc_namespace::KIND,
            pc_test::KIND,
            pc_other::KIND,
        ];
        for (i, kind) in kinds.iter().enumerate() {
            assert_ne!(*kind, 0);
            assert!(!kinds[..i].contains(kind), "kind {kind:#x} twice");
        }
    }

    #[test]
    fn chunks_cover_every_index_once() {
        assert_eq!(chunk_of(0), (0, 0));
        assert_eq!(chunk_of(63), (0, 63));
        assert_eq!(chunk_of(64), (1, 0));
        assert_eq!(chunk_of(191), (1, 127));
        assert_eq!(chunk_of(192), (2, 0));
        let last = chunk_of(MAX_SLOTS - 1);
        assert_eq!(last.0, CHUNKS - 1);
        assert!(last.1 < 1 << (CHUNKS as u32 - 1 + FIRST_CHUNK_SHIFT));
        // The first index past the table lands past the last chunk.
        assert_eq!(chunk_of(MAX_SLOTS), (CHUNKS, 0));
        assert_eq!(chunk_of(u32::MAX).0, CHUNKS);
        let mut expected_start = 0usize;
        for k in 0..CHUNKS {
            assert_eq!(chunk_of(expected_start as u32), (k, 0));
            expected_start += 1 << (k as u32 + FIRST_CHUNK_SHIFT);
        }
    }

    #[test]
    fn values_decode_to_what_they_encode() {
        for (index, generation) in [(0, 1), (5, 7), (MAX_SLOTS - 1, u32::MAX)] {
            let value = encode(index, generation);
            assert_ne!(value, 0);
            assert_eq!(decode(value), (index, generation));
        }
        assert_eq!(decode(0).0, u32::MAX);
        assert_eq!(next_generation(u32::MAX), 1);
    }

    fn error_of<T>(result: Result<T>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_freed_handle_is_refused_and_its_slot_reused_with_a_new_generation() {
        let h = into_raw::<pc_test>(Arc::new("first".to_owned())).unwrap();
        assert_eq!(**borrow(h, "h").unwrap(), "first");
        release(h, "h").unwrap();
        assert!(error_of(borrow(h, "h")).contains("h was already freed"));
        assert!(error_of(release(h, "h")).contains("h was already freed"));
        // Many handles made and freed after it: never the old value again.
        for _ in 0..1000 {
            let again = into_raw::<pc_test>(Arc::new("again".to_owned())).unwrap();
            assert_ne!(again, h);
            assert!(error_of(borrow(h, "h")).contains("was already freed"));
            release(again, "again").unwrap();
        }
    }

    #[test]
    fn the_object_goes_with_its_last_reference() {
        let object = Arc::new("kept".to_owned());
        let h = into_raw::<pc_test>(Arc::clone(&object)).unwrap();
        assert_eq!(Arc::strong_count(&object), 2);
        let kept = borrow(h, "h").unwrap().share();
        release(h, "h").unwrap();
        assert_eq!(Arc::strong_count(&object), 2);
        drop(kept);
        assert_eq!(Arc::strong_count(&object), 1);
    }

    #[test]
    fn another_kind_and_garbage_are_not_a_handle() {
        let h = into_raw::<pc_test>(Arc::new("mine".to_owned())).unwrap();
        let other = h.cast::<pc_other>();
        assert!(error_of(borrow(other, "o")).contains("o is not a pc_other"));
        assert!(error_of(release(other, "o")).contains("o is not a pc_other"));
        assert_eq!(**borrow(h, "h").unwrap(), "mine");
        let local = 7u64;
        let garbage: [*const pc_test; 5] = [
            (&raw const local).cast(),
            ptr::without_provenance(1),
            ptr::without_provenance(usize::MAX),
            ptr::without_provenance(0xffff_ffff),
            // The right slot, a generation it has not reached.
            ptr::without_provenance(h.addr() + (1000 << 32)),
        ];
        for g in garbage {
            assert!(error_of(borrow(g, "g")).contains("g is not a pc_test"));
        }
        assert!(error_of(borrow(ptr::null::<pc_test>(), "n")).contains("n is NULL"));
        release(h, "h").unwrap();
        release(ptr::null_mut::<pc_test>(), "h").unwrap();
    }

    #[test]
    fn a_lent_handle_goes_with_its_lender_and_is_not_freed_by_c() {
        let lender = into_raw::<pc_test>(Arc::new("lender".to_owned())).unwrap();
        let borrowed = borrow(lender, "lender").unwrap();
        let lent = borrowed
            .lend::<pc_other>(|s| Ok(Some(Arc::new(format!("{s}'s")))))
            .unwrap();
        // The same handle each time: `make` is not called again.
        let again = borrowed
            .lend::<pc_other>(|_| -> Result<Option<Arc<String>>> { panic!("made twice") })
            .unwrap();
        assert_eq!(lent, again);
        assert_eq!(**borrow(lent, "l").unwrap(), "lender's");
        assert!(error_of(release(lent, "l")).contains("l is lent"));
        assert_eq!(**borrow(lent, "l").unwrap(), "lender's");
        let _ = borrowed;
        release(lender, "lender").unwrap();
        assert!(error_of(borrow(lent, "l")).contains("l was already freed"));

        // Nothing to lend: NULL, and nothing kept.
        let plain = into_raw::<pc_test>(Arc::new("plain".to_owned())).unwrap();
        let none = borrow(plain, "p")
            .unwrap()
            .lend::<pc_other>(|_| Ok(None))
            .unwrap();
        assert!(none.is_null());
        release(plain, "p").unwrap();
    }

    #[test]
    fn a_withdrawn_loan_is_refused() {
        let h = lend::<pc_test>(Arc::new("for a call".to_owned())).unwrap();
        assert_eq!(**borrow(h, "h").unwrap(), "for a call");
        assert!(error_of(release(h, "h")).contains("is lent"));
        withdraw(h);
        assert!(error_of(borrow(h, "h")).contains("h was already freed"));
    }

    #[test]
    fn handles_made_and_freed_from_many_threads_stay_apart() {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        let text = format!("{t}:{i}");
                        let h = into_raw::<pc_test>(Arc::new(text.clone())).unwrap();
                        assert_eq!(**borrow(h, "h").unwrap(), text);
                        release(h, "h").unwrap();
                        assert!(borrow(h, "h").is_err());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
