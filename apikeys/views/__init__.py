"""Admin key views, one module per concern: the keys table and key page (`keys`), one key's
lifecycle (`lifecycle`), and bulk actions (`bulk`)."""
