"""What many test packages share: the real sandbox on a port it chose (`sandbox`), and the facts
about the repository's own app that tests assert on (`app`)."""
