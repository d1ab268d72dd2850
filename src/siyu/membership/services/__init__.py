"""Membership's business rules, one module per area: `program` (settings), `points`, `tiers`,
`cards`, `benefits` (what applies at checkout), `referrals`. Every public service takes an `actor`
(or runs for the system from another app's event) and authorises in the service."""
