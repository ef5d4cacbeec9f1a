//go:build race

package mxtest

// raceEnabled shrinks the pixel-heavy test matrices under the race
// detector, which slows single-goroutine pixel loops about tenfold without
// finding anything in them.
const raceEnabled = true
