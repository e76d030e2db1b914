// Package soak is the chaos soak (`make soak`, docs/deployment.md): two
// outpost replicas behind nginx, sharing sessions in a real store, the
// devcore and an upstream that records what it receives, under signed-in
// and anonymous load while faults are injected one after another. It
// fails on any request that reached the upstream without the identity it
// should carry, on any signed-in person sent to sign in again, on 5xx
// outside a fault's window, and on memory or goroutine growth. The soak is
// its tests; this file only names the package.
package soak
