;;; after-lsp-mode.el --- test-only settings after the README's lsp-mode set-up  -*- lexical-binding: t -*-
;;
;; The test's project is a git repository, so lsp-mode finds its root without asking; the
;; session file and the rest of lsp-mode's state stay in the test's directory.

(setq lsp-session-file (expand-file-name "lsp-session" user-emacs-directory)
      lsp-auto-guess-root t
      lsp-enable-file-watchers nil
      lsp-headerline-breadcrumb-enable nil
      lsp-modeline-code-actions-enable nil
      lsp-modeline-diagnostics-enable nil
      lsp-keep-workspace-alive nil)
;;; after-lsp-mode.el ends here
