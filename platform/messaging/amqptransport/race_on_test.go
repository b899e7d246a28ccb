//go:build race

package amqptransport_test

// raceDetector is true when the tests run with -race.
const raceDetector = true
