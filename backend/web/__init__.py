"""Pages for people (api.md "Pages for people"): the start page, the usage page and /docs' assets.
The pages read nothing themselves: their scripts call the same JSON API the extension does."""
