// Package mxtest holds the test support of this module; it is only used
// in tests. Each helper is written once here.
//
// The building blocks: requests ([Get], [Do], [Client], [Serve]),
// streams read part by part with arrival times ([Open]), sources that make
// a property observable without timing ([Stepper], [Blocker], [Timed]),
// built programs run as processes ([Binary], [Start]), external tools
// ([Tool]) and waiting ([Eventually]).
//
// On top of them sit the contracts that several packages share. The
// adapters (ginmx, echomx) run [CheckAdapter]. The demo apps run
// [CheckDemoRouter] and [CheckDemoProcess]. The live apps (mjpeg, relay)
// read frames with [Frames] and run [CheckAccess]. Every example server
// runs [CheckSafeServer].
package mxtest
