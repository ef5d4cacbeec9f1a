//go:build !race

package mxtest

// raceEnabled: see race_test.go.
const raceEnabled = false
