"""What the tests of every tier share: servers, bundles, the browser, event payloads,
sample values and checks. Imported as `support.X`; holds no tests."""
