"""The register: codes, school calendars, UPNs, schools, marks and their amendments, imports."""
