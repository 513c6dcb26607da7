//! The web tracker's global allocator: size classes of powers of two, each with a
//! free list, carved from a bump region that grows with `memory.grow`. A fraction of
//! talc's (or dlmalloc's) code, which is most of why it is here.
//!
//! Rules: a block of class k holds 2^k bytes (at least 8) and is aligned to
//! min(2^k, 4096), so a freed block serves any later request of its class; blocks
//! never merge or split (Vec and String grow by doubling, so requests fall on a few
//! classes, and a tab's heap stays within twice what it holds at its peak); memory
//! is never returned (wasm cannot shrink its memory). Single-threaded wasm only.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;

const PAGE: usize = 65536;
const MAX_ALIGN: usize = 4096;

pub struct Classes {
    state: UnsafeCell<State>,
}

struct State {
    /// Free blocks per class (each free block holds the next one's address).
    free: [usize; 32],
    /// The bump region: [next, end).
    next: usize,
    end: usize,
}

// Safety: wasm32 without threads: one thread touches it.
unsafe impl Sync for Classes {}

impl Classes {
    pub const fn new() -> Self {
        Classes {
            state: UnsafeCell::new(State {
                free: [0; 32],
                next: 0,
                end: 0,
            }),
        }
    }
}

/// The class of a layout: 2^class bytes hold it at its alignment.
fn class(l: &Layout) -> u32 {
    let size = l.size().max(l.align()).max(8);
    size.next_power_of_two().trailing_zeros()
}

unsafe impl GlobalAlloc for Classes {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() > MAX_ALIGN {
            return std::ptr::null_mut();
        }
        let s = &mut *self.state.get();
        let k = class(&l);
        if k >= 32 {
            return std::ptr::null_mut();
        }
        let head = s.free[k as usize];
        if head != 0 {
            s.free[k as usize] = *(head as *const usize);
            return head as *mut u8;
        }
        let size = 1usize << k;
        let align = size.min(MAX_ALIGN);
        if s.end == 0 {
            // The memory the module starts with is rustc's (data, stack): start after it.
            s.next = core::arch::wasm32::memory_size(0) * PAGE;
            s.end = s.next;
        }
        let at = (s.next + align - 1) & !(align - 1);
        if at + size > s.end {
            let pages = (at + size - s.end).div_ceil(PAGE);
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return std::ptr::null_mut();
            }
            s.end += pages * PAGE;
        }
        s.next = at + size;
        at as *mut u8
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let s = &mut *self.state.get();
        let k = class(&l) as usize;
        *(p as *mut usize) = s.free[k];
        s.free[k] = p as usize;
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, l.align());
        if class(&new) == class(&l) {
            return p; // the block already holds it
        }
        let q = self.alloc(new);
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
            self.dealloc(p, l);
        }
        q
    }
}
