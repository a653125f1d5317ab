-- :Codestral command; `require('codestral').setup()` starts the server.
if vim.g.loaded_codestral then
  return
end
vim.g.loaded_codestral = true

if vim.fn.has('nvim-0.10') == 0 then
  vim.notify('codestral-ls: Neovim 0.10 or newer is needed', vim.log.levels.ERROR)
  return
end

vim.api.nvim_create_user_command('Codestral', function(opts)
  require('codestral').command(opts)
end, {
  nargs = '*',
  range = true,
  desc = 'codestral-ls: model, status, stats, edit, restart, log',
  complete = function(arglead, cmdline)
    return require('codestral').complete(arglead, cmdline)
  end,
})
