package fleare

// fifo is a first-in first-out queue on a slice whose popped front is
// reused, so that a queue that keeps a steady length stops allocating. It
// is not safe for concurrent use: its owner's mutex guards it. The pool's
// waiters, a pipelined connection's calls and a server gate's jobs all
// queue in one.
type fifo[T comparable] struct {
	q    []T
	head int
}

func (f *fifo[T]) len() int { return len(f.q) - f.head }

func (f *fifo[T]) push(v T) {
	if f.head > 0 && len(f.q) == cap(f.q) { // reuse the space popped from the front
		n := copy(f.q, f.q[f.head:])
		clear(f.q[n:])
		f.q, f.head = f.q[:n], 0
	}
	f.q = append(f.q, v)
}

func (f *fifo[T]) pop() (T, bool) {
	var zero T
	if f.head == len(f.q) {
		return zero, false
	}
	v := f.q[f.head]
	f.q[f.head] = zero
	f.head++
	if f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
	}
	return v, true
}

// peek returns the oldest element without removing it.
func (f *fifo[T]) peek() (T, bool) {
	var zero T
	if f.head == len(f.q) {
		return zero, false
	}
	return f.q[f.head], true
}

// at returns the i-th oldest element; i must be below len.
func (f *fifo[T]) at(i int) T { return f.q[f.head+i] }

// remove takes v out of the queue, reporting whether it was there.
func (f *fifo[T]) remove(v T) bool {
	var zero T
	for i := f.head; i < len(f.q); i++ {
		if f.q[i] == v {
			copy(f.q[i:], f.q[i+1:])
			f.q[len(f.q)-1] = zero
			f.q = f.q[:len(f.q)-1]
			if f.head == len(f.q) {
				f.q, f.head = f.q[:0], 0
			}
			return true
		}
	}
	return false
}

// drain empties the queue and returns its elements, oldest first.
func (f *fifo[T]) drain() []T {
	out := make([]T, f.len())
	copy(out, f.q[f.head:])
	clear(f.q)
	f.q, f.head = f.q[:0], 0
	return out
}
