//! Exit codes, returned by commands and mapped to the process status only in `main`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done, nothing wrong.
    Ok,
    /// 1: an error (also a plan with errors).
    Error,
    /// 2: `plan --detailed-exitcode` found sends, now or scheduled.
    Pending,
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Pending => 2,
        }
    }
}
