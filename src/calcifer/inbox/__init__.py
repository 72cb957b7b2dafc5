"""Notifications for each person: the in-app inbox (bell, page), e-mail (with digests and signed
unsubscribe links) and the person's own apprise URL, fed from the domain-event outbox."""
