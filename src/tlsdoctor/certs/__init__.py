"""Making certificates right the first time: CSRs with the names clients will ask for."""
