package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histSub is the number of buckets per power of two (as a shift): values
// are kept with a relative error below 1/2^histSub (about 3%).
const histSub = 5

// histBuckets covers values up to 2^40 µs (about 12 days).
const histBuckets = (40 - histSub + 1) << histSub

// hist is a log-linear histogram of latencies in microseconds, of fixed
// size, safe for concurrent use: add is one atomic increment.
type hist struct {
	n       atomic.Uint64
	max     atomic.Int64
	buckets [histBuckets]atomic.Uint64
}

func bucketOf(v int64) int {
	if v < 1<<histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - 1 - histSub
	i := (shift+1)<<histSub + int(uint64(v)>>shift) - 1<<histSub
	return min(i, histBuckets-1)
}

// bucketMid returns the middle of bucket i's range.
func bucketMid(i int) int64 {
	if i < 1<<histSub {
		return int64(i)
	}
	shift := i>>histSub - 1
	m := int64(i&(1<<histSub-1) + 1<<histSub)
	return m<<shift + (int64(1)<<shift)/2
}

func (h *hist) add(us int64) {
	h.buckets[bucketOf(us)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// quantile returns the q-quantile (0 < q <= 1) and the number of samples.
// Values are bucket midpoints, capped at the exact maximum.
func (h *hist) quantile(q float64) (time.Duration, uint64) {
	n := h.n.Load()
	if n == 0 {
		return 0, 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var c uint64
	for i := range h.buckets {
		c += h.buckets[i].Load()
		if c >= rank {
			return time.Duration(min(bucketMid(i), h.max.Load())) * time.Microsecond, n
		}
	}
	return time.Duration(h.max.Load()) * time.Microsecond, n
}
