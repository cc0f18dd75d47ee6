"""The console: server-rendered pages for the people who decide (guardians, auditors, admins, IG managers), signed in
through the trust's identity provider. An edge package like app/http: it parses forms, checks the person's roles and
form token, calls the same services as the API with the person's Principal in the request's one transaction, and
renders NHS.UK frontend pages. No service imports it."""
