"""How stored values are shown to people: event tables per modality, short material names, and the
formatting that pages and exports share."""
