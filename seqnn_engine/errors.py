"""The one error type for problems the user can fix."""


class InputError(ValueError):
    """A problem with user-supplied input (files, sequences, options).

    The message always says what is wrong and what to do about it; the app shows
    it with ``st.error`` and the CLI prints it as one line on stderr.
    """
