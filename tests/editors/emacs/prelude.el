;;; prelude.el --- test set-up loaded before a README set-up  -*- lexical-binding: t -*-
;;
;; Used by tests/editors/test_emacs.py with `emacs -nw -Q -l init.el'.  `-Q' skips the site
;; start-up files, so the Debian ELPA packages (elpa-eglot, elpa-lsp-mode, elpa-company) are
;; activated here, as a user's package.el would.  Everything Emacs writes goes under the
;; test's directory (CODESTRAL_TEST_DIR), and a server socket lets the test read state with
;; emacsclient while it drives the keyboard through tmux.

(require 'package)
(setq user-emacs-directory (file-name-as-directory (getenv "CODESTRAL_TEST_DIR"))
      package-user-dir (expand-file-name "elpa" user-emacs-directory)
      package-directory-list '("/usr/share/emacs/site-lisp/elpa")
      package-quickstart nil)
(package-initialize)

(setq inhibit-startup-screen t
      make-backup-files nil
      auto-save-default nil
      create-lockfiles nil
      ;; Keep the tests' keystrokes in control: no idle pop-ups.
      company-idle-delay nil
      ;; A full *Messages* for the checks at the end.
      message-log-max t)

(require 'server)
(setq server-socket-dir (getenv "CODESTRAL_TEST_SERVER_DIR")
      server-name "emacs-server")
(server-start)
;;; prelude.el ends here
