"""The review domain, pure: which samples to send to reviewers, how their answers resolve
(majority vote, Dawid-Skene), how good each reviewer is, and what each cycle achieved."""
