package guard

// FailKey exposes failKey to the tests.
var FailKey = failKey
