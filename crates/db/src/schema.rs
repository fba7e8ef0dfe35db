//! Diesel table definitions for Tollgate's own tables (one migration set in `migrations/`).
//! Tables arrive with the service issues; each has one owning service that writes it.
