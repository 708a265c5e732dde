//! An inbox's queue: a `VecDeque` with one value inline. Most inboxes hold at most one value
//! at a time most of the time (a request, a tick, a control message), and then never allocate
//! a buffer: the first value sent to an idle inbox costs no allocation. Once a second value
//! arrives the buffer is made and used from then on, so a busy inbox pays one predictable
//! branch per operation.

use std::collections::VecDeque;

pub(crate) struct Fifo<T> {
    /// The one value, while the buffer has never been needed.
    first: Option<T>,
    /// Every value, once the buffer exists (then `first` is `None`).
    rest: VecDeque<T>,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            first: None,
            rest: VecDeque::new(),
        }
    }
}

impl<T> Fifo<T> {
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.rest.len() + usize::from(self.first.is_some())
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    #[inline(always)]
    pub(crate) fn push_back(&mut self, value: T) {
        if self.rest.capacity() != 0 {
            self.rest.push_back(value);
        } else {
            self.push_unbuffered(value);
        }
    }

    #[cold]
    fn push_unbuffered(&mut self, value: T) {
        match self.first.take() {
            None => self.first = Some(value),
            Some(first) => {
                self.rest.reserve(2);
                self.rest.push_back(first);
                self.rest.push_back(value);
            }
        }
    }

    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.rest.capacity() != 0 {
            self.rest.pop_front()
        } else {
            self.first.take()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;
    use std::collections::VecDeque;

    /// Every sequence of pushes and pops (up to ten steps) leaves the same values in the same
    /// order as a plain `VecDeque`.
    #[test]
    fn behaves_as_a_vecdeque() {
        fn walk(depth: usize, fifo: &mut Fifo<u32>, model: &mut VecDeque<u32>, next: &mut u32) {
            assert_eq!(fifo.len(), model.len());
            assert_eq!(fifo.is_empty(), model.is_empty());
            if depth == 0 {
                return;
            }
            // Push.
            *next += 1;
            let (mut f, mut m) = (clone(fifo), model.clone());
            f.push_back(*next);
            m.push_back(*next);
            walk(depth - 1, &mut f, &mut m, next);
            // Pop.
            let (mut f, mut m) = (clone(fifo), model.clone());
            assert_eq!(f.pop_front(), m.pop_front());
            walk(depth - 1, &mut f, &mut m, next);
        }
        fn clone(f: &Fifo<u32>) -> Fifo<u32> {
            Fifo {
                first: f.first,
                rest: f.rest.clone(),
            }
        }
        walk(10, &mut Fifo::default(), &mut VecDeque::new(), &mut 0);
    }

    #[test]
    fn one_value_at_a_time_allocates_no_buffer() {
        let mut fifo = Fifo::default();
        for i in 0..100 {
            fifo.push_back(i);
            assert_eq!(fifo.pop_front(), Some(i));
        }
        assert_eq!(fifo.rest.capacity(), 0);
    }
}
