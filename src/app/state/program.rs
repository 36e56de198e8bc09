//! The program that is always on: the window's state sends the program its settings make to
//! the controller at the start and whenever it changes (the controller starts it again once
//! no output runs).

use super::*;

impl AppState {
    /// Sends the program to the controller if what it shows changed since it was last sent
    /// (the mixer's edits reach the running mixer directly).
    pub(super) fn program_edited(&mut self) {
        let program = self.program();
        if self
            .sent_program
            .as_ref()
            .is_none_or(|sent| sent.differs_from(&program))
        {
            self.sent_program = Some(program.clone());
            self.session.send(Command::SetProgram(program));
        }
    }
}

impl SessionView {
    /// True while an output runs or stops: the program's preset and sources stay as they are.
    pub fn outputs_running(&self) -> bool {
        [&self.live, &self.recording, &self.preview]
            .iter()
            .any(|a| a.since.is_some() || a.stopping)
    }
}
