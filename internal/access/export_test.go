package access

// FailKey exposes failKey to the tests.
var FailKey = failKey
