//go:build !race

package testpattern

// raceEnabled: see race_test.go.
const raceEnabled = false
