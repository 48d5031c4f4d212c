"""Cases: opening and moving them, their evidence, the daily evaluation and the caseload."""
