"""Authentication and authorization for every door (SPEC §3, §6, §6a, §6b, §10).

Each rule is written once here and every door calls it: reading the credential
(`credentials`), the key format and lookup (`keyformat`, `keys`), who may pass (`rules`: key state,
IP allowlists, access set, scopes), the rate limit (`ratelimit`), access tokens and their signing
keys (`tokens`, `signing`), OAuth client authentication and the refresh checks (`clients`), who
did it (`actor`), what a door reports (`events`), and the view decorator (`decorators`).

`access` imports no feature app: it reads their tables by name in its plain SQL and reaches their
models through `django.apps`, and it tells them about uses and rejections through signals.
"""
